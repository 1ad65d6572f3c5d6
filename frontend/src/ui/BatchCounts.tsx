// A batch's children counted, as the list and the batch's page show them:
// a bar of those ended, then how many succeeded, failed and are to go.

import { tally, type Batch } from "./batches";

export function BatchCounts({ batch: b }: { batch: Batch }) {
  const { total, ended, waiting } = tally(b);
  if (b.status === "uploading") return <span class="muted">Waiting for the archive</span>;
  if (total === 0)
    return <span class="muted">{b.status === "unpacking" ? "Unpacking…" : "No recordings"}</span>;
  const j = b.jobs;
  return (
    <span class="batch-counts" data-total={total}>
      <progress max={total} value={ended} aria-label={`Recordings of ${b.name} done`}>
        {ended} of {total}
      </progress>{" "}
      <span>
        <span class="count-succeeded">{j.succeeded} succeeded</span>
        {" · "}
        <span class={j.failed > 0 ? "count-failed" : undefined}>{j.failed} failed</span>
        {j.cancelled > 0 && ` · ${j.cancelled} cancelled`}
        {" · "}
        <span class="count-waiting">{waiting} to go</span>, of {total}
        {b.status === "unpacking" && " so far"}
      </span>
    </span>
  );
}

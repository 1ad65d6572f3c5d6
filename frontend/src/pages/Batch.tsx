// A batch's page: where it stands (read again every two seconds while it
// is unpacking or running), what may be done to it, what the unpacking
// refused or could not match, and its jobs, one per recording.

import { useEffect, useState } from "preact/hooks";
import { atLeast, useAuth } from "../auth";
import { bytes, eta, when } from "../format";
import { Link } from "../router";
import { BatchChildren } from "../ui/BatchChildren";
import { BatchCounts } from "../ui/BatchCounts";
import { Failures, Refused, Unmatched } from "../ui/BatchReport";
import { BatchResults } from "../ui/BatchResults";
import {
  cancelBatch,
  getBatch,
  hasEnded,
  isBusy,
  POLL_MS,
  retryBatch,
  startBatch,
  tally,
  type Batch,
} from "../ui/batches";
import { ErrorNote, Loading, PageTitle, StatusBadge, useLoad } from "../ui/common";
import { useAction } from "./settings/parts";
import "./admin.css";
import "./batches.css";

export function BatchPage({ id }: { id: string }) {
  // Keyed: another batch's page starts from nothing.
  return <BatchView key={id} id={id} />;
}

function BatchView({ id }: { id: string }) {
  const { me } = useAuth();
  const canWrite = atLeast(me, "member");
  const batch = useLoad(() => getBatch(id), [id]);
  const b = batch.data;
  useEffect(() => {
    if (!b || !isBusy(b)) return;
    const t = setTimeout(() => batch.reload(), POLL_MS);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [b]);

  if (!b)
    return (
      <>
        <PageTitle title="Batch">Batch</PageTitle>
        <ErrorNote error={batch.error} />
        {batch.loading && <Loading what="the batch" />}
      </>
    );
  // The children are read again whenever one of them moves.
  const { ended, waiting } = tally(b);
  const moved = `${b.status}/${ended}/${waiting}/${b.jobs.running}`;
  return (
    <>
      <p class="muted small">
        <Link href="/batches">Batches</Link> /
      </p>
      <PageTitle title={b.name}>{b.name}</PageTitle>
      <BatchStatus batch={b} />
      {canWrite && <Actions batch={b} canAdmin={atLeast(me, "admin")} onChange={(nb) => batch.set(() => nb)} />}
      {b.unpacked_at && <BatchResults batchId={b.id} name={b.name} />}
      <Facts batch={b} />
      <Failures failures={b.failures} />
      <Refused refused={b.refused} />
      <Unmatched unmatched={b.unmatched} keyColumn={b.options.key_column ?? "meta_id"} unpacked={!!b.unpacked_at} />
      <BatchChildren id={b.id} moved={moved} />
    </>
  );
}

const SAYS: Record<Batch["status"], string> = {
  uploading: "Waiting for its archive: upload it, then start the batch.",
  unpacking: "The archive is being checked and unpacked; each recording becomes a job.",
  running: "Unpacked; its recordings are being processed.",
  completed: "Every recording's job has ended.",
  cancelled: "Cancelled, with the jobs that had not ended.",
  failed: "The archive could not be used; no job was made from it.",
};

function BatchStatus({ batch: b }: { batch: Batch }) {
  return (
    <div id="batch-status" class="card batch-status" data-status={b.status}>
      <p>
        <span aria-live="polite">
          <StatusBadge status={b.status} />
        </span>{" "}
        {SAYS[b.status]}
      </p>
      <p>
        <BatchCounts batch={b} />
      </p>
      {b.eta && !hasEnded(b) && (
        <p>
          Expected to end {when(b.eta)} (in about {eta((Date.parse(b.eta) - Date.now()) / 1000)}).
        </p>
      )}
      {b.error && (
        <div class="failure" role={b.status === "failed" ? "alert" : undefined}>
          <p>
            <strong>{b.status === "failed" ? "The batch failed: " : "Why: "}</strong>
            {b.error.message || "no reason was given."}
          </p>
          <p class="small">
            Error code <code>{b.error.code}</code>
          </p>
        </div>
      )}
    </div>
  );
}

function Actions({
  batch: b,
  canAdmin,
  onChange,
}: {
  batch: Batch;
  canAdmin: boolean;
  onChange: (b: Batch) => void;
}) {
  const act = useAction();
  const [said, setSaid] = useState<string | null>(null);
  // As a job's retry: admins and owners only.
  const canRetry = canAdmin && (b.status === "running" || b.status === "completed") && b.jobs.failed > 0;
  if (hasEnded(b) && !canRetry) return null;
  return (
    <div class="actions batch-actions">
      {b.status === "uploading" && (
        <button type="button" disabled={act.busy} onClick={() => act.run(async () => onChange(await startBatch(b.id)))}>
          Start
        </button>
      )}
      {!hasEnded(b) && (
        <button
          type="button"
          class="danger"
          disabled={act.busy}
          onClick={() => {
            if (!confirm(`Cancel ${b.name}, with every job of it that has not ended?`)) return;
            void act.run(async () => onChange(await cancelBatch(b.id)));
          }}
        >
          Cancel the batch
        </button>
      )}
      {canRetry && (
        <button
          type="button"
          class="secondary"
          disabled={act.busy}
          onClick={() =>
            act.run(async () => {
              const r = await retryBatch(b.id);
              onChange(r.batch);
              setSaid(retried(r.requeued, r.not_retryable));
            })
          }
        >
          Retry failed
        </button>
      )}
      <ErrorNote error={act.error} />
      <p class="ok small" role="status">
        {said}
      </p>
    </div>
  );
}

/** What a retry did, in words. */
function retried(requeued: number, stuck: number): string {
  const again = stuck === 1 ? "1 would fail the same way" : `${stuck} would fail the same way`;
  if (requeued === 0) return stuck > 0 ? `No failed job can run again: ${again}.` : "No failed job to run again.";
  const sent = `Sent ${requeued} failed job${requeued === 1 ? "" : "s"} back in line`;
  return stuck > 0 ? `${sent}; ${again} and stay failed.` : `${sent}.`;
}

function Facts({ batch: b }: { batch: Batch }) {
  const o = b.options;
  return (
    <section aria-labelledby="batch-facts">
      <h2 id="batch-facts">About this batch</h2>
      <dl class="facts">
        <dt>Archive</dt>
        <dd>{bytes(b.size_bytes)}</dd>
        <dt>Created</dt>
        <dd>{when(b.created_at)}</dd>
        <dt>Unpacked</dt>
        <dd>
          {when(b.unpacked_at)}
          {b.entries_total != null && ` (${b.entries_total} files)`}
        </dd>
        <dt>Ended</dt>
        <dd>{when(b.finished_at)}</dd>
        <dt>Rate</dt>
        <dd>{b.jobs_per_hour != null ? `${b.jobs_per_hour.toFixed(1)} recordings an hour` : "—"}</dd>
        <dt>Metadata key</dt>
        <dd>
          <code>{o.key_column}</code>
        </dd>
        <dt>Kept as</dt>
        <dd>Opus, mono, {o.opus_kbps} kbit/s</dd>
        {b.unpack_job_id && (
          <>
            <dt>Unpacking</dt>
            <dd>
              <Link href={`/jobs/${b.unpack_job_id}`}>Its job and history</Link>
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}

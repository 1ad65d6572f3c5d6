// A batch's results as one file: a row per recording with its metadata,
// transcript and moderation, as JSON lines or parquet (for pandas and
// DuckDB). Fetched with the session's token, then saved.

import { authedFetch, problem } from "../api/client";
import { useAction } from "../pages/settings/parts";
import { ErrorNote } from "./common";

export function BatchResults({ batchId, name }: { batchId: string; name: string }) {
  const act = useAction();
  const save = (format: "jsonl" | "parquet") =>
    act.run(async () => {
      const r = await authedFetch(new Request(`/v1/batches/${batchId}/results?format=${format}`));
      if (!r.ok) {
        const body: unknown = await r.json().catch(() => undefined);
        throw problem(body, r);
      }
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `${name.replace(/\.(tar\.gz|tgz|tar)$/i, "")}-results.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  return (
    <div class="actions small">
      <span class="muted">Results, a row per recording:</span>
      {(["parquet", "jsonl"] as const).map((f) => (
        <button
          key={f}
          type="button"
          class="link"
          disabled={act.busy}
          aria-label={`Download the results as ${f === "jsonl" ? "JSON lines" : "parquet"}`}
          onClick={() => void save(f)}
        >
          {f === "jsonl" ? "JSON lines" : "Parquet"}
        </button>
      ))}
      <ErrorNote error={act.error} />
    </div>
  );
}

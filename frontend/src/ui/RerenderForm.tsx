// New clips from the kept source: ranges a person chooses (or copies from a
// highlight), in the shapes and with the captions asked for, captioned
// with the transcript as corrected. Also lists the re-renders made so far.

import { useState } from "preact/hooks";
import { api, listJobs, must, type Schemas } from "../api/client";
import { clock, when } from "../format";
import { Link } from "../router";
import { ErrorNote, StatusBadge, useLoad } from "./common";
import { span, type HighlightView, type Job } from "./jobOutputs";

type ClipFormat = Schemas["ClipFormat"];
const FORMATS: ClipFormat[] = ["vertical", "square", "original"];
const MAX_RANGES = 20;

interface Row {
  key: number;
  start: string;
  end: string;
  title: string;
}

let nextKey = 1;
const blank = (): Row => ({ key: nextKey++, start: "", end: "", title: "" });

/** `1:05`, `1:05.5`, `65` or `1:01:05` as seconds; NaN when unreadable. */
export function parseTime(s: string): number {
  const parts = s.trim().split(":");
  if (parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return NaN;
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

interface Props {
  job: Job;
  highlights: HighlightView[];
  canWrite: boolean;
  /** Bumped when the job's results may have changed. */
  gen: number;
}

export function RerenderSection({ job, highlights, canWrite, gen }: Props) {
  const renders = useLoad(
    () => listJobs({ parent_id: job.id, limit: 20 }),
    [job.id, gen],
  );
  const kept = !!job.source_kept_until && job.status === "succeeded" && !job.parent_id;
  const list = renders.data?.items ?? [];
  if (!kept && list.length === 0) return null;
  return (
    <section aria-labelledby="rerender-h">
      <h2 id="rerender-h">New clips</h2>
      {kept && (
        <p class="muted">
          The source is kept until {when(job.source_kept_until)}: until then, clips of any stretch can be rendered
          again, with the transcript as corrected above.
        </p>
      )}
      {kept && canWrite && (
        <Form job={job} highlights={highlights} onQueued={renders.reload} />
      )}
      <ErrorNote error={renders.error} />
      {list.length > 0 && (
        <>
          <h3>Re-renders of this job</h3>
          <ul class="renders">
            {list.map((r) => (
              <li key={r.id}>
                <Link href={`/jobs/${r.id}`}>
                  {(r.ranges ?? []).map((x) => span(x)).join(", ") || "Re-render"}
                </Link>{" "}
                <StatusBadge status={r.status} /> <span class="muted small">{when(r.created_at)}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function Form({ job, highlights, onQueued }: { job: Job; highlights: HighlightView[]; onQueued: () => void }) {
  const clipOptions = job.options.clips;
  const [rows, setRows] = useState<Row[]>([blank()]);
  const [formats, setFormats] = useState<ClipFormat[]>(clipOptions?.formats ?? ["vertical"]);
  const [burn, setBurn] = useState(clipOptions?.captions?.burn ?? true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [queued, setQueued] = useState<Job | null>(null);

  const update = (key: number, patch: Partial<Row>) =>
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));

  const fromHighlight = (rank: number) => {
    const h = highlights.find((x) => x.rank === rank);
    if (!h) return;
    const duration = (job.media as { duration?: number | null } | null | undefined)?.duration ?? Infinity;
    const row = { start: stamp(h.start, Math.floor), end: stamp(Math.min(h.end, duration), h.end >= duration ? Math.floor : Math.ceil), title: h.title };
    setRows((rs) => {
      const empty = rs.find((r) => !r.start && !r.end);
      if (empty) return rs.map((r) => (r === empty ? { ...r, ...row } : r));
      return rs.length < MAX_RANGES ? [...rs, { ...blank(), ...row }] : rs;
    });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const ranges = rows.map((r, i) => {
      const start = parseTime(r.start);
      const end = parseTime(r.end);
      if (!Number.isFinite(start) || !Number.isFinite(end))
        throw new Error(`Range ${i + 1}: write the times as 1:05 or 65.`);
      if (end - start < 1 || end - start > 600)
        throw new Error(`Range ${i + 1}: a clip lasts 1 s to 10 min, and ends after it starts.`);
      return { start, end, title: r.title.trim() || null };
    });
    if (formats.length === 0) throw new Error("Choose at least one shape.");
    setBusy(true);
    try {
      const created = must(
        await api.POST("/v1/jobs/{id}/clips", {
          params: { path: { id: job.id } },
          // The spec types `clips` as an empty object; it is a merge patch of ClipOptions.
          body: { ranges, clips: { formats, captions: { burn } } as unknown as Schemas["RerenderRequest"]["clips"] },
        }),
      );
      setQueued(created);
      setRows([blank()]);
      onQueued();
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="card rerender"
      onSubmit={(e) => submit(e).catch((err) => setError(err))}
      aria-label="Render new clips"
    >
      {highlights.length > 0 && (
        <label class="inline-label">
          Copy a highlight
          <select
            value=""
            onChange={(e) => {
              const el = e.target as HTMLSelectElement;
              fromHighlight(Number(el.value));
              el.value = "";
            }}
          >
            <option value="">choose…</option>
            {highlights.map((h) => (
              <option key={h.rank} value={h.rank}>
                {h.rank}. {h.title} ({span(h)})
              </option>
            ))}
          </select>
        </label>
      )}
      <fieldset>
        <legend>Ranges (times on the source, as 1:05 or 65)</legend>
        {rows.map((r, i) => (
          <div class="range-row" key={r.key}>
            <label>
              Start of range {i + 1}
              <input required inputMode="decimal" value={r.start} onInput={(e) => update(r.key, { start: (e.target as HTMLInputElement).value })} />
            </label>
            <label>
              End of range {i + 1}
              <input required inputMode="decimal" value={r.end} onInput={(e) => update(r.key, { end: (e.target as HTMLInputElement).value })} />
            </label>
            <label class="grow">
              Title of range {i + 1} (optional)
              <input maxLength={200} value={r.title} onInput={(e) => update(r.key, { title: (e.target as HTMLInputElement).value })} />
            </label>
            {rows.length > 1 && (
              <button type="button" class="secondary" onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}>
                Remove range {i + 1}
              </button>
            )}
          </div>
        ))}
        {rows.length < MAX_RANGES && (
          <button type="button" class="secondary" onClick={() => setRows((rs) => [...rs, blank()])}>
            Add a range
          </button>
        )}
      </fieldset>
      <fieldset>
        <legend>Shapes</legend>
        {FORMATS.map((f) => (
          <label class="check" key={f}>
            <input
              type="checkbox"
              checked={formats.includes(f)}
              onChange={(e) =>
                setFormats((fs) =>
                  (e.target as HTMLInputElement).checked ? FORMATS.filter((x) => x === f || fs.includes(x)) : fs.filter((x) => x !== f),
                )
              }
            />
            {f}
          </label>
        ))}
      </fieldset>
      <label class="check">
        <input type="checkbox" checked={burn} onChange={(e) => setBurn((e.target as HTMLInputElement).checked)} />
        Burn the captions into the picture
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Queuing…" : "Render"}
      </button>
      <ErrorNote error={error} />
      {queued && (
        <p class="ok" role="status">
          Queued. <Link href={`/jobs/${queued.id}`}>Follow the re-render</Link>
        </p>
      )}
    </form>
  );
}

/**
 * `1:05.25`: hundredths `clock` leaves out, rounded outwards (`round`), so
 * a copied highlight keeps its first and last words.
 */
function stamp(t: number, round: (x: number) => number): string {
  const c = round(t * 100) / 100;
  const whole = Math.floor(c);
  const cents = Math.round((c - whole) * 100);
  return clock(whole) + (cents ? `.${String(cents).padStart(2, "0")}` : "");
}

// The jobs page: new jobs (uploads by drag and drop or file picker, or a
// YouTube link) and the tenant's jobs, updated live from the API's stream.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, listJobs, must, type Schemas } from "../api/client";
import { follow } from "../api/live";
import { atLeast, useAuth } from "../auth";
import { bytes, eta, when } from "../format";
import { Link, navigate, navigateWith, useLocation } from "../router";
import { acceptable, upload, type Finish, type Progress } from "../upload";
import { ErrorNote, Loading, PageTitle, Pager, StatusBadge, useLoad } from "../ui/common";
import { EngineTierFields, NO_CHOICE, transcriptionOptions, type EngineTier } from "../ui/engines";
import { ProblemHint } from "../ui/jobErrors";
import { analysisOptions, ProviderField, type Provider } from "../ui/providers";

type JobSummary = Schemas["JobSummary"];
type JobStatus = Schemas["JobStatus"];

const STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
const PAGE = 20;

export function JobsPage() {
  const { me } = useAuth();
  const canWrite = atLeast(me, "member");
  // Who transcribes the jobs submitted below, uploads and links alike.
  const [choice, setChoice] = useState<EngineTier>(NO_CHOICE);
  // Who analyses them; "" keeps the organisation's default.
  const [provider, setProvider] = useState<Provider | "">("");
  const picked: Choice = { ...choice, provider };
  return (
    <>
      <PageTitle title="Jobs">Jobs</PageTitle>
      {canWrite && (
        <section aria-labelledby="new-job" class="card">
          <h2 id="new-job">New job</h2>
          <fieldset class="job-options">
            <legend>Transcription and analysis of the files and links below</legend>
            <EngineTierFields value={choice} onChange={setChoice} />
            <ProviderField value={provider} onChange={setProvider} />
          </fieldset>
          <Uploads choice={picked} />
          <YoutubeForm choice={picked} />
        </section>
      )}
      <JobList />
    </>
  );
}

interface UploadRow {
  key: number;
  file: File;
  progress: Progress | null;
  state: "uploading" | "done" | "failed" | "cancelled";
  error?: unknown;
  job?: Schemas["Job"];
  cancel?: () => void;
}

let nextKey = 1;

/** The new-job form's choices: engine, tier and analysis provider. */
type Choice = EngineTier & { provider: Provider | "" };

/** `options` of a new job, or nothing: every option left out keeps its default. */
function jobOptions(choice: Choice, audioOnly = false): Schemas["JobOptions"] | undefined {
  const transcription = transcriptionOptions(choice);
  const analysis = analysisOptions(choice.provider);
  if (!transcription && !analysis && !audioOnly) return undefined;
  // The generated type lists every option as present because the schema
  // gives each a default; the API takes any subset.
  const options = {
    ...(audioOnly ? { audio_only: true } : {}),
    ...(transcription ? { transcription } : {}),
    ...(analysis ? { analysis } : {}),
  };
  return options as Schemas["JobOptions"];
}

function Uploads({ choice }: { choice: Choice }) {
  const [rows, setRows] = useState<UploadRow[]>([]);
  const [over, setOver] = useState(false);
  const picker = useRef<HTMLInputElement>(null);

  const update = (key: number, f: (r: UploadRow) => UploadRow) =>
    setRows((rs) => rs.map((r) => (r.key === key ? f(r) : r)));

  const start = (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      const key = nextKey++;
      const refused = acceptable(file);
      if (refused) {
        setRows((rs) => [...rs, { key, file, progress: null, state: "failed", error: new Error(refused) }]);
        continue;
      }
      const options = jobOptions(choice);
      const finish: Finish | undefined = options
        ? async (id, parts) =>
            must(await api.POST("/v1/uploads/{id}/complete", { params: { path: { id } }, body: { parts, options } }))
        : undefined;
      const u = upload(file, (p) => update(key, (r) => ({ ...r, progress: p })), finish);
      setRows((rs) => [...rs, { key, file, progress: null, state: "uploading", cancel: u.cancel }]);
      u.done
        .then((job) => update(key, (r) => ({ ...r, state: "done", job })))
        .catch((error) =>
          update(key, (r) => ({ ...r, state: error?.code === "cancelled" ? "cancelled" : "failed", error })),
        );
    }
  };

  return (
    <div>
      <div
        class={`drop${over ? " over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          if (e.dataTransfer?.files.length) start(e.dataTransfer.files);
        }}
      >
        <p>Drop video or audio files here, or</p>
        <button type="button" onClick={() => picker.current?.click()}>
          Choose files…
        </button>
        <input
          ref={picker}
          type="file"
          accept="video/*,audio/*"
          multiple
          class="visually-hidden"
          aria-label="Video or audio files to upload"
          onChange={(e) => {
            const input = e.target as HTMLInputElement;
            if (input.files?.length) start(input.files);
            input.value = "";
          }}
        />
      </div>
      {rows.length > 0 && (
        <ul class="uploads" aria-label="Uploads">
          {rows.map((r) => (
            <UploadItem key={r.key} row={r} onDismiss={() => setRows((rs) => rs.filter((x) => x.key !== r.key))} />
          ))}
        </ul>
      )}
    </div>
  );
}

function UploadItem({ row, onDismiss }: { row: UploadRow; onDismiss: () => void }) {
  const p = row.progress;
  const total = p?.total || row.file.size;
  const sent = row.state === "done" ? total : (p?.sent ?? 0);
  const pct = total ? Math.floor((sent * 100) / total) : 0;
  const left = p && p.speed > 0 ? (total - sent) / p.speed : Infinity;
  return (
    <li class={`upload upload-${row.state}`} data-file={row.file.name}>
      <div class="upload-head">
        <strong>{row.file.name}</strong>
        <span class="muted">{bytes(row.file.size)}</span>
      </div>
      <progress max={100} value={pct} aria-label={`Upload of ${row.file.name}`}>
        {pct} %
      </progress>
      <div class="upload-foot">
        {row.state === "uploading" && (
          <>
            <span class="pct">{pct} %</span>
            <span>
              {bytes(sent)} of {bytes(total)}
            </span>
            <span>{p && p.speed > 0 ? `${bytes(p.speed)}/s` : "starting…"}</span>
            <span>{Number.isFinite(left) ? `${eta(left)} left` : ""}</span>
            <button type="button" class="secondary" onClick={row.cancel}>
              Cancel
            </button>
          </>
        )}
        {row.state === "done" && row.job && (
          <>
            <span class="pct">100 %</span>
            <span>Uploaded.</span> <Link href={`/jobs/${row.job.id}`}>Open the job</Link>
            <button type="button" class="secondary" onClick={onDismiss}>
              Dismiss
            </button>
          </>
        )}
        {(row.state === "failed" || row.state === "cancelled") && (
          <>
            {row.state === "cancelled" ? (
              <span>Cancelled; nothing was kept.</span>
            ) : (
              <>
                <ErrorNote error={row.error} />
                <ProblemHint error={row.error} />
              </>
            )}
            <button type="button" class="secondary" onClick={onDismiss}>
              Dismiss
            </button>
          </>
        )}
      </div>
    </li>
  );
}

function YoutubeForm({ choice }: { choice: Choice }) {
  const [url, setUrl] = useState("");
  const [audioOnly, setAudioOnly] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      class="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          const source = { type: "youtube" as const, url: url.trim() };
          const options = jobOptions(choice, audioOnly);
          const body = options ? { source, options } : { source };
          const job = must(await api.POST("/v1/jobs", { body }));
          setUrl("");
          navigate(`/jobs/${job.id}`);
        } catch (err) {
          setError(err);
        } finally {
          setBusy(false);
        }
      }}
    >
      <label>
        Or a YouTube link
        <input
          type="url"
          required
          placeholder="https://www.youtube.com/watch?v=…"
          value={url}
          onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
        />
      </label>
      <label class="check" title="Fetches the sound only: a transcript, analysis and moderation, no clips">
        <input
          type="checkbox"
          checked={audioOnly}
          onChange={(e) => setAudioOnly((e.target as HTMLInputElement).checked)}
        />
        Audio only (no clips)
      </label>
      <button type="submit" disabled={busy}>
        {busy ? "Submitting…" : "Process"}
      </button>
      <ErrorNote error={error} />
      <ProblemHint error={error} />
    </form>
  );
}

function JobList() {
  const { query } = useLocation();
  const status = (query.get("status") as JobStatus | null) ?? undefined;
  const cursor = query.get("cursor") ?? undefined;
  const page = useLoad(() => listJobs({ status, cursor, limit: PAGE }), [status, cursor]);

  // One stream for the whole tenant: each change replaces the job's row;
  // a new job joins the first page when it passes the filter.
  useEffect(
    () =>
      follow("/v1/jobs", ({ event, data }) => {
        if (event !== "job") return;
        const job = data as JobSummary;
        // A batch's recordings are listed on its page, not here (as the
        // API's list leaves them out); the stream sends them all.
        if (job.batch_id) return;
        page.set((old) => {
          if (!old) return old;
          const i = old.items.findIndex((j) => j.id === job.id);
          if (i >= 0) {
            const items = old.items.slice();
            items[i] = job;
            return { ...old, items };
          }
          // Ids are UUIDv7: a larger one is a newer job.
          const newest = old.items[0]?.id ?? "";
          if (!cursor && (!status || status === job.status) && job.id > newest)
            return { ...old, items: [job, ...old.items].slice(0, PAGE) };
          return old;
        });
      }),
    [status, cursor],
  );

  const go = (params: Record<string, string | undefined>) => navigateWith("/jobs", params);

  return (
    <section aria-labelledby="job-list">
      <div class="row">
        <h2 id="job-list">Your jobs</h2>
        <label class="inline-label">
          Status
          <select value={status ?? ""} onChange={(e) => go({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNote error={page.error} />
      {page.loading && !page.data && <Loading what="jobs" />}
      {page.data && page.data.items.length === 0 && (
        <p class="muted">{status ? `No ${status} jobs.` : "No jobs yet: upload a video or paste a link above."}</p>
      )}
      {page.data && page.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="jobs">
            <thead>
              <tr>
                <th scope="col">Source</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((j) => (
                <JobRow job={j} key={j.id} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager cursor={cursor} next={page.data?.next_cursor} onOlder={(c) => go({ status, cursor: c })} />
    </section>
  );
}

export function sourceName(j: Pick<JobSummary, "source" | "title">): string {
  return j.title ?? j.source.url ?? (j.source.type === "youtube" ? "YouTube video" : "Uploaded file");
}

function JobRow({ job }: { job: JobSummary }) {
  const live = job.status === "running" || job.status === "queued";
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td>
        <Link href={`/jobs/${job.id}`}>{sourceName(job)}</Link>
      </td>
      <td>
        <StatusBadge status={job.status} />
        {job.error && <div class="muted small">{job.error.code}</div>}
      </td>
      <td>
        {live ? (
          <span>
            <progress max={100} value={job.progress} aria-label="Job progress" /> {job.stage ?? "waiting"}{" "}
            {job.progress} %
          </span>
        ) : (
          <span class="muted">{job.status === "succeeded" ? "done" : "—"}</span>
        )}
      </td>
      <td>{when(job.created_at)}</td>
    </tr>
  );
}

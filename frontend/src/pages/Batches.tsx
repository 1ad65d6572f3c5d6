// The batches page: a new batch (an archive of recordings, sent straight
// to storage with its progress, then unpacked by a worker) and the
// tenant's batches, read again every two seconds while one is unpacking
// or running. Each batch has a page of its own (Batch.tsx).

import { useEffect, useState } from "preact/hooks";
import { atLeast, useAuth } from "../auth";
import { bytes, eta, when } from "../format";
import { Link, navigateWith, useLocation } from "../router";
import type { Progress } from "../upload";
import { BatchCounts } from "../ui/BatchCounts";
import {
  archiveProblem,
  isBusy,
  listBatches,
  POLL_MS,
  uploadBatch,
  type Batch,
  type NewBatchOptions,
  type Step,
} from "../ui/batches";
import { ErrorNote, Loading, PageTitle, Pager, StatusBadge, useLoad } from "../ui/common";
import { EngineTierFields, NO_CHOICE, transcriptionOptions, type EngineTier } from "../ui/engines";
import { ProblemHint } from "../ui/jobErrors";
import { analysisOptions, ProviderField, type Provider } from "../ui/providers";
import { AdminsOnly, inputValue } from "./settings/parts";
import "./admin.css";
import "./batches.css";

export function BatchesPage() {
  const { me } = useAuth();
  const canWrite = atLeast(me, "member");
  const { query } = useLocation();
  const cursor = query.get("cursor") ?? undefined;
  const page = useLoad(() => listBatches(cursor), [cursor]);
  // Unpacking and running batches move on their own: read them again
  // until none is left. (One waiting for its archive moves only when
  // someone starts it.)
  useEffect(() => {
    if (!page.data?.items.some(isBusy)) return;
    const t = setTimeout(() => page.reload(), POLL_MS);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [page.data]);

  return (
    <>
      <PageTitle title="Batches">Batches</PageTitle>
      <p class="muted">
        A batch is a <code>.tar</code> or <code>.tar.gz</code> archive of recordings, with parquet, JSONL or CSV
        files of their metadata if you like. Each recording becomes a job of its own, carrying the metadata row whose
        key column names it (<code>audio123.mp3</code> is named <code>audio123</code>), and is kept as Opus. Or a
        manifest: a <code>.jsonl</code>, <code>.csv</code> or <code>.parquet</code> file whose source column holds a
        link on each row (inside an archive, a file's path), with the row's other columns as its metadata.
      </p>
      {canWrite ? (
        <NewBatch onEnded={page.reload} />
      ) : (
        <AdminsOnly>Viewers can follow batches; members and up upload them.</AdminsOnly>
      )}
      <section aria-labelledby="batch-list">
        <h2 id="batch-list">Your batches</h2>
        <ErrorNote error={page.error} />
        {page.loading && !page.data && <Loading what="batches" />}
        {page.data && page.data.items.length === 0 && <p class="muted">No batches yet.</p>}
        {page.data && page.data.items.length > 0 && (
          <div class="table-wrap">
            <table class="stack batches">
              <thead>
                <tr>
                  <th scope="col">Archive</th>
                  <th scope="col">Status</th>
                  <th scope="col">Recordings</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((b) => (
                  <BatchRow batch={b} key={b.id} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager cursor={cursor} next={page.data?.next_cursor} onOlder={(c) => navigateWith("/batches", { cursor: c })} />
      </section>
    </>
  );
}

function BatchRow({ batch: b }: { batch: Batch }) {
  return (
    <tr data-batch={b.id} data-status={b.status}>
      <td data-label="Archive">
        <Link href={`/batches/${b.id}`}>{b.name}</Link>
        <div class="muted small">{bytes(b.size_bytes)}</div>
      </td>
      <td data-label="Status">
        <StatusBadge status={b.status} />
        {b.error && <div class="muted small">{b.error.code}</div>}
      </td>
      <td data-label="Recordings">
        <BatchCounts batch={b} />
      </td>
      <td data-label="Created">{when(b.created_at)}</td>
    </tr>
  );
}

interface Sending {
  file: File;
  step: Step | "done" | "failed" | "cancelled";
  progress: Progress | null;
  error?: unknown;
  batch?: Batch;
  cancel?: () => void;
}

/** The upload form; `onEnded` after each upload, started or not (its batch may be listed). */
function NewBatch({ onEnded }: { onEnded: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [keyColumn, setKeyColumn] = useState("meta_id");
  const [sourceColumn, setSourceColumn] = useState("source");
  const [kbps, setKbps] = useState("32");
  const [clips, setClips] = useState(true);
  const [choice, setChoice] = useState<EngineTier>(NO_CHOICE);
  const [provider, setProvider] = useState<Provider | "">("");
  const [sending, setSending] = useState<Sending | null>(null);
  const busy = !!sending && !["done", "failed", "cancelled"].includes(sending.step);

  const submit = (e: Event) => {
    e.preventDefault();
    if (!file || refused) return;
    const update = (f: (s: Sending) => Sending) => setSending((s) => s && f(s));
    // Job options only where asked: every other one keeps the server's default.
    const options: NewBatchOptions = {
      key_column: keyColumn.trim(),
      source_column: sourceColumn.trim(),
      opus_kbps: Number(kbps),
    };
    const transcription = transcriptionOptions(choice);
    const analysis = analysisOptions(provider);
    if (!clips || transcription || analysis)
      options.job = {
        ...(clips ? {} : { clips: { count: 0 } }),
        ...(transcription ? { transcription } : {}),
        ...(analysis ? { analysis } : {}),
      };
    const u = uploadBatch(
      file,
      options,
      (step) => update((s) => ({ ...s, step })),
      (progress) => update((s) => ({ ...s, progress })),
    );
    setSending({ file, step: "creating", progress: null, cancel: u.cancel });
    u.done
      .then((batch) => update((s) => ({ ...s, step: "done", batch })))
      .catch((error) => update((s) => ({ ...s, step: error?.code === "cancelled" ? "cancelled" : "failed", error })))
      .finally(onEnded);
  };

  return (
    <section aria-labelledby="new-batch" class="card">
      <h2 id="new-batch">New batch</h2>
      <form class="inline" onSubmit={submit}>
        <label>
          Archive or manifest <span class="hint">(.tar, .tar.gz, .tgz; or .jsonl, .csv, .parquet)</span>
          <input
            type="file"
            required
            accept=".tar,.tar.gz,.tgz,.jsonl,.ndjson,.csv,.parquet,application/x-tar,application/gzip"
            disabled={busy}
            onChange={(e) => {
              const f = (e.target as HTMLInputElement).files?.[0] ?? null;
              setFile(f);
              setRefused(f && archiveProblem(f));
            }}
          />
        </label>
        <label>
          Metadata key column
          <input required maxLength={128} value={keyColumn} onInput={(e) => setKeyColumn(inputValue(e))} />
        </label>
        <label>
          Manifest source column
          <input required maxLength={128} value={sourceColumn} onInput={(e) => setSourceColumn(inputValue(e))} />
        </label>
        <label>
          Opus bitrate <span class="hint">(kbit/s, 6-256)</span>
          <input type="number" required min={6} max={256} value={kbps} onInput={(e) => setKbps(inputValue(e))} />
        </label>
        <EngineTierFields value={choice} onChange={setChoice} disabled={busy} />
        <ProviderField value={provider} onChange={setProvider} disabled={busy} />
        <label class="check" title="Each recording's highlights rendered as clips; without, the jobs end sooner">
          <input type="checkbox" checked={clips} onChange={(e) => setClips((e.target as HTMLInputElement).checked)} />
          Make clips of each recording
        </label>
        <button type="submit" disabled={busy || !file || !!refused}>
          {busy ? "Uploading…" : "Upload and start"}
        </button>
        <ErrorNote error={refused} />
      </form>
      {sending && (
        <ul class="uploads" aria-label="Archive upload">
          <SendingItem sending={sending} onDismiss={() => setSending(null)} />
        </ul>
      )}
    </section>
  );
}

function SendingItem({ sending: s, onDismiss }: { sending: Sending; onDismiss: () => void }) {
  const p = s.progress;
  const total = p?.total || s.file.size;
  const sent = s.step === "done" || s.step === "starting" ? total : (p?.sent ?? 0);
  const pct = total ? Math.floor((sent * 100) / total) : 0;
  const left = p && p.speed > 0 ? (total - sent) / p.speed : Infinity;
  const dismiss = (
    <button type="button" class="secondary" onClick={onDismiss}>
      Dismiss
    </button>
  );
  return (
    <li class={`upload upload-${s.step}`} data-file={s.file.name}>
      <div class="upload-head">
        <strong>{s.file.name}</strong>
        <span class="muted">{bytes(s.file.size)}</span>
      </div>
      <progress max={100} value={pct} aria-label={`Upload of ${s.file.name}`}>
        {pct} %
      </progress>
      <div class="upload-foot" aria-live="polite">
        {s.step === "creating" && <span>Preparing the upload…</span>}
        {s.step === "uploading" && (
          <>
            <span class="pct">{pct} %</span>
            <span>
              {bytes(sent)} of {bytes(total)}
            </span>
            <span>{p && p.speed > 0 ? `${bytes(p.speed)}/s` : "starting…"}</span>
            <span>{Number.isFinite(left) ? `${eta(left)} left` : ""}</span>
            <button type="button" class="secondary" onClick={s.cancel}>
              Cancel
            </button>
          </>
        )}
        {s.step === "starting" && (
          <>
            <span class="pct">100 %</span>
            <span>Uploaded; starting the unpacking…</span>
          </>
        )}
        {s.step === "done" && s.batch && (
          <>
            <span class="pct">100 %</span>
            <span>Uploaded; the archive is being unpacked.</span>
            <Link href={`/batches/${s.batch.id}`}>Open the batch</Link>
            {dismiss}
          </>
        )}
        {s.step === "cancelled" && (
          <>
            <span>Cancelled; the batch was cancelled too.</span>
            {dismiss}
          </>
        )}
        {s.step === "failed" && (
          <>
            <ErrorNote error={s.error} />
            <ProblemHint error={s.error} />
            {dismiss}
          </>
        )}
      </div>
    </li>
  );
}

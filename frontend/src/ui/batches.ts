// Batches: an archive of recordings (`.tar`, `.tar.gz`) uploaded once,
// unpacked by a worker, each recording then a job of its own with its
// metadata row (api/src/routes/batches.rs). The calls the batch pages
// make, and how a batch's counters read.

import { api, ApiError, listJobs, must, type Schemas } from "../api/client";
import { bytes } from "../format";
import { PARTS_FROM, Sending, send, type Progress } from "../upload";

export type Batch = Schemas["Batch"];
export type BatchStatus = Schemas["BatchStatus"];
export type BatchOptions = Schemas["BatchOptions"];
export type JobSummary = Schemas["JobSummary"];
export type JobStatus = Schemas["JobStatus"];

/** The API's default cap (`CUTROOM_MAX_BATCH_BYTES`); larger archives go in parts up to it. */
export const MAX_ARCHIVE_BYTES = 50 * 1024 ** 3;

/** Statuses in which the server moves a batch on by itself: worth polling. */
const BUSY: BatchStatus[] = ["unpacking", "running"];
const ENDED: BatchStatus[] = ["completed", "cancelled", "failed"];

export const isBusy = (b: Pick<Batch, "status">) => BUSY.includes(b.status);
export const hasEnded = (b: Pick<Batch, "status">) => ENDED.includes(b.status);

/** How often a page with a busy batch reads it again. */
export const POLL_MS = 2000;

/** The children by where they stand: all of them, ended, and still to run. */
export function tally(b: Pick<Batch, "jobs">) {
  const j = b.jobs;
  const ended = j.succeeded + j.failed + j.cancelled;
  return { total: ended + j.queued + j.running, ended, waiting: j.queued + j.running };
}

/** Archives of recordings, then manifests of links. */
export const ARCHIVE_EXTS = [".tar", ".tar.gz", ".tgz"];
export const MANIFEST_EXTS = [".jsonl", ".ndjson", ".csv", ".parquet"];

/** Why `file` cannot be a batch's archive or manifest, before any byte is sent; null when it can. */
export function archiveProblem(file: File): string | null {
  const name = file.name.toLowerCase();
  if (![...ARCHIVE_EXTS, ...MANIFEST_EXTS].some((ext) => name.endsWith(ext)))
    return `${file.name} is neither a .tar, .tar.gz or .tgz archive nor a .jsonl, .csv or .parquet manifest.`;
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > MAX_ARCHIVE_BYTES)
    return `${file.name} is ${bytes(file.size)}; one batch may hold at most 50 GiB: split it into several batches.`;
  return null;
}

/** Where an upload is: asking for the URL, sending the bytes, starting the unpacking. */
export type Step = "creating" | "uploading" | "starting";

/**
 * What a new batch asks for. Each option left out, down to each job
 * option, keeps the server's default; the generated `BatchOptions` lists
 * them all as present because the schema gives each a default.
 */
export interface NewBatchOptions {
  key_column?: string;
  source_column?: string;
  opus_kbps?: number;
  job?: Record<string, unknown>;
}

export interface BatchUpload {
  /** Resolves with the started batch (unpacking). */
  done: Promise<Batch>;
  cancel: () => void;
}

/**
 * Creates a batch for `file`, sends the archive to its presigned URL and
 * starts it. A cancelled upload cancels its batch too, so that none is
 * left waiting for an archive.
 */
export function uploadBatch(
  file: File,
  options: NewBatchOptions,
  onStep: (s: Step) => void,
  onProgress: (p: Progress) => void,
): BatchUpload {
  const sending = new Sending();
  let id: string | null = null;
  const done = (async () => {
    try {
      onStep("creating");
      const body = {
        name: file.name,
        size_bytes: file.size,
        options: options as BatchOptions,
        // Large archives go in parts: several at once, each retried alone.
        multipart: file.size > PARTS_FROM,
      };
      const created = must(await api.POST("/v1/batches", { body }));
      id = created.batch.id;
      if (sending.cancelled) throw new ApiError(0, "cancelled", "Upload cancelled.");
      onStep("uploading");
      const parts = await send(sending, created.upload, file, onProgress);
      onStep("starting");
      return must(await api.POST("/v1/batches/{id}/start", { params: { path: { id } }, body: { parts } }));
    } catch (e) {
      if (sending.cancelled && id) await cancelBatch(id).catch(() => undefined);
      throw e;
    }
  })();
  return { done, cancel: () => sending.cancel() };
}

export async function listBatches(cursor?: string, limit = 20) {
  return must(await api.GET("/v1/batches", { params: { query: { cursor, limit } } }));
}

export async function getBatch(id: string) {
  return must(await api.GET("/v1/batches/{id}", { params: { path: { id } } }));
}

export async function startBatch(id: string) {
  return must(await api.POST("/v1/batches/{id}/start", { params: { path: { id } } }));
}

export async function cancelBatch(id: string) {
  return must(await api.POST("/v1/batches/{id}/cancel", { params: { path: { id } } }));
}

export async function retryBatch(id: string) {
  return must(await api.POST("/v1/batches/{id}/retry", { params: { path: { id } } }));
}

/** A field of the metadata rows, as the API takes it in `metadata.<field>`. */
export const FIELD = /^[A-Za-z0-9_-]{1,128}$/;

export interface ChildQuery {
  status?: JobStatus;
  cursor?: string;
  /** Only children whose metadata row has `field` equal to `value`. */
  field?: string;
  value?: string;
}

/**
 * A page of the batch's children: in archive order from the batch, or,
 * filtered by a metadata field, newest first from the jobs list (the only
 * place that filter is).
 */
export async function listChildren(id: string, q: ChildQuery, limit = 50): Promise<Schemas["JobPage"]> {
  const { status, cursor, field, value } = q;
  if (field && value) {
    if (!FIELD.test(field))
      throw new ApiError(0, "invalid_query", "A metadata field is 1 to 128 letters, digits, _ or -.");
    // The field is part of the parameter's name, which the generated types cannot spell.
    const query = { batch_id: id, status, cursor, limit, [`metadata.${field}`]: value };
    return listJobs(query as Parameters<typeof listJobs>[0]);
  }
  return must(
    await api.GET("/v1/batches/{id}/jobs", { params: { path: { id }, query: { status, cursor, limit } } }),
  );
}

/** A metadata row in one line: `{"meta_id":"a","year":2021}`. */
export function compact(metadata: unknown): string {
  return metadata == null ? "" : JSON.stringify(metadata);
}

// Uploads straight to object storage: the API hands out a presigned URL
// (`POST /v1/uploads`), or presigned URLs for parts of a large file; the
// browser PUTs the bytes there with progress and a cancel button, then
// `POST /v1/uploads/{id}/complete` (with the parts' ETags) makes it a job
// (or another call does: a voice sample is enrolled by
// `POST /v1/speakers/{id}/samples`). A batch's archive takes the same
// `send` to its own target (ui/batches.ts).
// XMLHttpRequest rather than fetch: only it reports upload progress.

import { api, ApiError, must, type Schemas } from "./api/client";

export type Job = Schemas["Job"];

export interface Progress {
  sent: number;
  total: number;
  /** Bytes per second, over the last few seconds. */
  speed: number;
}

/** Media types the API accepts; checked before any byte is sent. */
export function acceptable(file: File): string | null {
  const type = file.type || guessType(file.name);
  if (!type) return `${file.name}: unknown file type; choose a video or audio file.`;
  if (!type.startsWith("video/") && !type.startsWith("audio/"))
    return `${file.name} is ${type}, not a video or audio file.`;
  if (file.size === 0) return `${file.name} is empty.`;
  return null;
}

const EXT: Record<string, string> = {
  mp4: "video/mp4",
  m4v: "video/mp4",
  mov: "video/quicktime",
  mkv: "video/x-matroska",
  webm: "video/webm",
  avi: "video/x-msvideo",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  wav: "audio/wav",
  flac: "audio/flac",
  ogg: "audio/ogg",
  opus: "audio/ogg",
};

function guessType(name: string): string {
  return EXT[name.split(".").pop()?.toLowerCase() ?? ""] ?? "";
}

export interface Upload {
  /** Resolves with the job once the file is stored and the job created. */
  done: Promise<Job>;
  cancel: () => void;
}

/** A part as sent: its number and the ETag storage answered. */
export type Part = Schemas["UploadedPart"];

/** Makes a job of a stored upload: by default `POST /v1/uploads/{id}/complete`. */
export type Finish = (uploadId: string, parts: Part[]) => Promise<Job>;

const complete: Finish = async (id, parts) =>
  must(await api.POST("/v1/uploads/{id}/complete", { params: { path: { id } }, body: { parts } }));

/**
 * Files above this go in parts even where the server would take one PUT:
 * parts go several at once, and a part that fails is sent again alone,
 * so a 10 GB file survives a flaky link.
 */
export const PARTS_FROM = 100 * 1024 * 1024;

export function upload(
  file: File,
  onProgress: (p: Progress) => void,
  finish: Finish = complete,
  inParts = true,
): Upload {
  const sending = new Sending();
  const done = (async () => {
    const contentType = file.type || guessType(file.name);
    // Too large, wrong type or over the quota: refused here, before any byte.
    const target = must(
      await api.POST("/v1/uploads", {
        body: {
          filename: file.name,
          content_type: contentType,
          size_bytes: file.size,
          multipart: inParts && file.size > PARTS_FROM,
        },
      }),
    );
    if (sending.cancelled) throw cancelledError();
    const parts = await send(sending, target, file, onProgress);
    return finish(target.upload_id, parts);
  })();
  return { done, cancel: () => sending.cancel() };
}

/** Where and how to send a file: one presigned `PUT`, or presigned parts. */
export type Target = Schemas["UploadTarget"];

/** The requests of one upload in flight, so that cancel stops them all. */
export class Sending {
  cancelled = false;
  private readonly inFlight = new Set<XMLHttpRequest>();

  request(): XMLHttpRequest {
    const xhr = new XMLHttpRequest();
    this.inFlight.add(xhr);
    xhr.addEventListener("loadend", () => this.inFlight.delete(xhr));
    return xhr;
  }

  cancel() {
    this.cancelled = true;
    for (const xhr of this.inFlight) xhr.abort();
  }
}

function cancelledError() {
  return new ApiError(0, "cancelled", "Upload cancelled.");
}

/** Parts in flight at once. */
const PARALLEL_PARTS = 3;
/** Tries for each part before the upload fails. */
const PART_TRIES = 4;

/**
 * Sends `file` to `target`: in one PUT, or in parts (several at once, each
 * retried alone), reporting progress over the whole file. Resolves with
 * the parts to complete the upload with (none for one PUT).
 */
export async function send(
  sending: Sending,
  target: Target,
  file: File,
  onProgress: (p: Progress) => void,
): Promise<Part[]> {
  const speed = new Speed();
  if (!target.multipart) {
    await put(sending.request(), { url: target.url!, method: target.method!, headers: target.headers ?? {} }, file, (sent) =>
      onProgress({ sent, total: file.size, speed: speed.add(sent) }),
    );
    onProgress({ sent: file.size, total: file.size, speed: 0 });
    return [];
  }
  const { part_size: partSize, parts } = target.multipart;
  const loaded = new Map<number, number>();
  const report = () => {
    let sent = 0;
    for (const n of loaded.values()) sent += n;
    onProgress({ sent, total: file.size, speed: speed.add(sent) });
  };
  const done: Part[] = [];
  const queue = [...parts];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const start = (p.part_number - 1) * partSize;
      const body = file.slice(start, start + p.size_bytes);
      for (let attempt = 1; ; attempt++) {
        if (sending.cancelled) throw cancelledError();
        try {
          const xhr = sending.request();
          await put(xhr, p, body, (n) => {
            loaded.set(p!.part_number, n);
            report();
          });
          const etag = xhr.getResponseHeader("ETag");
          if (!etag)
            throw new ApiError(0, "upload_failed", "Storage did not answer with the part's ETag (an S3 bucket's CORS rules must expose the ETag header).");
          done.push({ part_number: p.part_number, etag });
          break;
        } catch (e) {
          loaded.set(p.part_number, 0);
          const retryable = e instanceof ApiError && (e.status === 0 || e.status >= 500) && e.code !== "cancelled";
          if (!retryable || attempt >= PART_TRIES) throw e;
          // Back off a little longer each time before the part goes again.
          await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, parts.length) }, worker));
  onProgress({ sent: file.size, total: file.size, speed: 0 });
  return done.sort((a, b) => a.part_number - b.part_number);
}

/** Bytes per second, over a sliding window of the last few seconds. */
class Speed {
  private readonly samples: [number, number][] = [];
  add(sent: number): number {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0]![0] > 3000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    return now > t0 ? ((sent - b0) * 1000) / (now - t0) : 0;
  }
}

/** One presigned `PUT`: its URL, method and signed headers. */
export interface PutTarget {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** Sends `body` to a presigned URL with `xhr`, reporting bytes sent; rejects with an [`ApiError`]. */
export function put(xhr: XMLHttpRequest, target: PutTarget, body: Blob, onSent: (sent: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    xhr.open(target.method, target.url);
    for (const [k, v] of Object.entries(target.headers)) {
      // The browser sets these itself and refuses to be told.
      if (!["content-length", "host"].includes(k.toLowerCase())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onSent(body.size);
        resolve();
      } else {
        reject(new ApiError(xhr.status, "upload_failed", storageError(xhr)));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The upload was interrupted: the storage server could not be reached."));
    xhr.onabort = () => reject(cancelledError());
    xhr.send(body);
  });
}

/** The storage server's reason, from an S3 XML error or a problem document. */
function storageError(xhr: XMLHttpRequest): string {
  const text = xhr.responseText ?? "";
  try {
    const p = JSON.parse(text) as { detail?: string };
    if (p.detail) return p.detail;
  } catch {
    // S3 answers XML.
  }
  const m = /<Message>([^<]*)<\/Message>/.exec(text);
  if (m) return `Storage refused the upload: ${m[1]}`;
  return `Storage refused the upload (${xhr.status}).`;
}

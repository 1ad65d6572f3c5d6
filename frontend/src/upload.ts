// Uploads straight to object storage: the API hands out a presigned URL
// (`POST /v1/uploads`), the browser PUTs the file there with progress and
// a cancel button, then `POST /v1/uploads/{id}/complete` makes it a job
// (or another call does: a voice sample is enrolled by
// `POST /v1/speakers/{id}/samples`). A batch's archive takes the same
// `put` to its own presigned URL (ui/batches.ts).
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

/** Makes a job of a stored upload: by default `POST /v1/uploads/{id}/complete`. */
export type Finish = (uploadId: string) => Promise<Job>;

const complete: Finish = async (id) =>
  must(await api.POST("/v1/uploads/{id}/complete", { params: { path: { id } }, body: {} }));

export function upload(file: File, onProgress: (p: Progress) => void, finish: Finish = complete): Upload {
  const xhr = new XMLHttpRequest();
  let cancelled = false;
  const done = (async () => {
    const contentType = file.type || guessType(file.name);
    // Too large, wrong type or over the quota: refused here, before any byte.
    const target = must(
      await api.POST("/v1/uploads", {
        body: { filename: file.name, content_type: contentType, size_bytes: file.size },
      }),
    );
    if (cancelled) throw new ApiError(0, "cancelled", "Upload cancelled.");
    await put(xhr, target, file, onProgress);
    return finish(target.upload_id);
  })();
  return {
    done,
    cancel: () => {
      cancelled = true;
      xhr.abort();
    },
  };
}

/** Where and how to send a file: a presigned `PUT` and its signed headers. */
export type PutTarget = Pick<Schemas["UploadCreated"], "url" | "method" | "headers">;

/** Sends `file` to a presigned URL with `xhr`, reporting progress; rejects with an [`ApiError`]. */
export function put(
  xhr: XMLHttpRequest,
  target: PutTarget,
  file: File,
  onProgress: (p: Progress) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    // Speed over a sliding window of recent progress events.
    const samples: [number, number][] = [];
    xhr.open(target.method, target.url);
    for (const [k, v] of Object.entries(target.headers)) {
      // The browser sets these itself and refuses to be told.
      if (!["content-length", "host"].includes(k.toLowerCase())) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (e) => {
      const now = performance.now();
      samples.push([now, e.loaded]);
      while (samples.length > 2 && now - samples[0]![0] > 3000) samples.shift();
      const [t0, b0] = samples[0]!;
      const speed = now > t0 ? ((e.loaded - b0) * 1000) / (now - t0) : 0;
      onProgress({ sent: e.loaded, total: e.lengthComputable ? e.total : file.size, speed });
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ sent: file.size, total: file.size, speed: 0 });
        resolve();
      } else {
        reject(new ApiError(xhr.status, "upload_failed", storageError(xhr)));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The upload was interrupted: the storage server could not be reached."));
    xhr.onabort = () => reject(new ApiError(0, "cancelled", "Upload cancelled."));
    xhr.send(file);
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

// The speaker library's calls, shared by the speakers page and the job
// page's speakers section (api/src/routes/speakers.rs).

import { api, ApiError, must, type Schemas } from "../api/client";
import { upload, type Job, type Progress, type Upload } from "../upload";

export type Speaker = Schemas["Speaker"];
export type Sample = Schemas["Sample"];
export type JobSpeaker = Schemas["JobSpeaker"];

/** The library's speakers, those whose name holds `q` when given (first 200). */
export async function listSpeakers(q?: string): Promise<Speaker[]> {
  const query = { q: q?.trim() || undefined, limit: 200 };
  return must(await api.GET("/v1/speakers", { params: { query } })).items;
}

export async function createSpeaker(name: string, externalId: string, consent: boolean): Promise<Speaker> {
  const body = { name: name.trim(), external_id: externalId.trim() || null, consent };
  return must(await api.POST("/v1/speakers", { body }));
}

export async function deleteSpeaker(id: string): Promise<void> {
  must(await api.DELETE("/v1/speakers/{id}", { params: { path: { id } } }));
}

/** Enrols a job's diarized speaker `label` as a sample of `speakerId`'s voice. */
export async function enrol(speakerId: string, jobId: string, label: string): Promise<Sample> {
  return must(
    await api.POST("/v1/speakers/{id}/samples", {
      params: { path: { id: speakerId } },
      body: { job_id: jobId, speaker: label },
    }),
  ) as Sample; // 201: from a job the sample itself (202, a job, is for uploads)
}

/**
 * Uploads `file` as a sample of `speakerId`'s voice: stored through a
 * presigned URL, then a job of its own finds the speech and enrols it.
 */
export function uploadSample(speakerId: string, file: File, onProgress: (p: Progress) => void): Upload {
  // A voice sample is short: one PUT (enrolment takes no parts).
  return upload(
    file,
    onProgress,
    async (uploadId) =>
      must(
        await api.POST("/v1/speakers/{id}/samples", {
          params: { path: { id: speakerId } },
          body: { upload_id: uploadId },
        }),
      ) as Job,
    false,
  );
}

/**
 * Waits for an enrolling job to end, reporting its progress; resolves when
 * the sample is added, throws the job's reason (`sample_too_short`...)
 * when it was refused.
 */
export async function enrolled(job: Job, onProgress: (percent: number) => void): Promise<void> {
  let j = job;
  while (!["succeeded", "failed", "cancelled"].includes(j.status)) {
    onProgress(j.progress);
    await new Promise((r) => setTimeout(r, 1000));
    j = must(await api.GET("/v1/jobs/{id}", { params: { path: { id: j.id } } }));
  }
  if (j.status === "succeeded") return;
  const e = j.error;
  throw new ApiError(422, e?.code ?? j.status, e?.message ?? `The enrolment was ${j.status}.`);
}

/** `12.5 s`, `2 min 5 s`: seconds of speech. */
export function speech(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** How a sample was taken, in words. */
export function sourceText(source: string): string {
  if (source === "job_speaker") return "a job's speaker";
  if (source === "job_ranges") return "time ranges of a job";
  if (source === "upload") return "an uploaded recording";
  return source;
}

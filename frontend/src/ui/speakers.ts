// The speaker library's calls, shared by the speakers page and the job
// page's speakers section (api/src/routes/speakers.rs).

import { api, must, type Schemas } from "../api/client";

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
  );
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
  return source;
}

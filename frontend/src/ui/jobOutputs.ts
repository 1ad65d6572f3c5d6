// What the job page reads besides the API's own views: the JSON reports the
// worker writes as outputs (shapes as in worker/src/pipeline/*.rs and
// worker/src/analysis/builtin.rs), fetched from their presigned URLs, and
// the small time helpers the sections share.

import { ApiError, type Schemas } from "../api/client";
import { clock } from "../format";
import { useLoad, type Loaded } from "./common";

export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type ClipView = Schemas["ClipView"];
export type ClipFile = Schemas["ClipFile"];
export type HighlightView = Schemas["HighlightView"];
export type Transcript = Schemas["Transcript"];
export type Segment = Schemas["Segment"];
export type Flag = Schemas["Flag"];

/** `loudness.json`: LUFS every `interval` s for the `window` s ending there; null is silence. */
export interface Series {
  interval: number;
  window: number;
  values: (number | null)[];
}
export interface LoudnessReport {
  version: number;
  integrated_lufs: number | null;
  loudness_range_lu: number | null;
  true_peak_dbtp: number | null;
  sample_peak_dbfs: number | null;
  momentary: Series;
  short_term: Series;
}

/** `silences.json`: silences and speech together cover the whole file. */
export interface Span {
  start: number;
  end: number;
}
export interface SilenceReport {
  version: number;
  duration: number;
  silences: (Span & { kind: "quiet" | "noise" })[];
  speech: Span[];
  silence_total: number;
  speech_total: number;
}

/** `analysis.json` (the analysis flattened into the report; core/src/outputs/analysis.rs). */
export interface AnalysisReport {
  version: number;
  provider: string;
  requested_provider: string;
  model?: string;
  language: string | null;
  sentences: number;
  summary: string;
  chapters: (Span & { title: string })[];
  keywords: { word: string; count: number }[];
  fallback?: { code: string; message: string };
  /** What the LLM provider was asked and what it cost, fallback or not. */
  usage?: AnalysisUsage;
  /** Why `auto` chose the provider it did; absent for a named provider. */
  route?: AnalysisRoute;
  /** What the local model wrote over builtin's wording (`local` only). */
  wording?: { asked: number; written: number; refused: number; reasons: string[] };
  warnings: string[];
}

/** `AnalysisRoute` in core/src/analysis/route.rs. */
export interface AnalysisRoute {
  tier: "fast" | "balanced" | "accurate";
  /** `set_aside` is null for the chosen one. */
  considered: { provider: string; estimated_cost_usd: number; set_aside: string | null }[];
  chosen: string;
  reason: string;
}

/** `UsageReport` in core/src/outputs/analysis.rs. */
export interface AnalysisUsage {
  chunks: number;
  max_in_flight: number;
  requests: number;
  retries: number;
  repairs: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd?: number;
  seconds: number;
}

export interface CategoryScore {
  category: string;
  score: number;
}
export interface Fired extends CategoryScore {
  threshold?: number;
  action: string;
  policy?: string;
  rationale?: string;
}

/** `moderation.json`: only what the page shows; the flags come from the review API. */
export interface ModerationReport {
  version: number;
  status: "ok" | "empty" | "unsupported_language";
  language: string | null;
  summary: {
    segments: number;
    unscored_segments: number;
    flagged_segments: number;
    flagged_highlights: number;
    flagged_seconds: number;
    highest: CategoryScore[];
    action: string | null;
  };
  custom?: { status: string; policies: string[]; code?: string; message?: string };
}

/** `clips.json`: only why clips are missing. */
export interface ClipManifest {
  note?: string;
  skipped: { highlight_rank?: number; range?: number; code: string; message: string }[];
}

/** A highlight's reason, as `GET /v1/jobs/{id}/highlights` gives it. */
export interface Reason {
  signal: string;
  points?: number;
  detail: string;
}

/** A clip's `details`, as the clips stage records them. */
export interface ClipDetails {
  loudness_target?: number;
  loudness?: { source_lufs: number | null; gain_db: number; lufs: number | null; true_peak_dbtp: number | null };
  captions_burned?: boolean;
  reframe?: string;
  tightened?: { cuts: [number, number][]; seconds_saved: number } | null;
  /** `audiogram` when the source had no picture and the clip's is drawn from its sound. */
  kind?: "video" | "audiogram";
}

export function details(clip: ClipView): ClipDetails {
  return clip.details as unknown as ClipDetails;
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.status === 404;
}

export function isLive(status: JobStatus | undefined): boolean {
  return status === "queued" || status === "running";
}

/**
 * An output report, or null when the job has no such output. Keyed on the
 * URL: it changes whenever the job is read again, and only then can the
 * content have changed.
 */
export function useOutput<T>(job: Job | undefined, name: string): Loaded<T | null> {
  const url = job?.outputs.find((o) => o.name === name)?.url;
  return useLoad(async () => {
    if (!url) return null;
    // Presigned: the URL is the credential, so no Authorization header.
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${name} could not be read (the storage answered ${r.status}).`);
    return (await r.json()) as T;
  }, [url]);
}

/**
 * Where source time `t` is in a clip's video: tightening cut pauses out
 * of it, so everything cut before `t` comes off (inside a cut, its start).
 */
export function clipTime(clip: ClipView, t: number): number {
  let cut = 0;
  for (const [a, b] of details(clip).tightened?.cuts ?? []) {
    if (b <= t) cut += b - a;
    else if (a < t) cut += t - a;
  }
  return Math.max(0, t - clip.start - cut);
}

/** `20 s` for short media, `12:05` past two minutes. */
export function length(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)} s` : clock(seconds);
}

/** `0:03–0:18`. */
export function span(s: Span): string {
  return `${clock(s.start)}–${clock(s.end)}`;
}

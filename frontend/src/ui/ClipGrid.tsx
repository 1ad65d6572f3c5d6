// The job's clips as a grid of cards: a player (poster: the thumbnail),
// a muted preview on request, the score and the reasons behind it, and the
// clip's files. A clip held by moderation has no URLs, so it shows why
// instead of a player.

import { useState } from "preact/hooks";
import type { Schemas } from "../api/client";
import { bytes, clock } from "../format";
import { Link } from "../router";
import { ErrorNote, Loading, type Loaded } from "./common";
import {
  details,
  isNotFound,
  span,
  type ClipFile,
  type ClipManifest,
  type ClipView,
  type HighlightView,
  type Reason,
} from "./jobOutputs";

interface Props {
  clips: Loaded<Schemas["ClipList"]>;
  highlights: HighlightView[];
  manifest: ClipManifest | null;
  live: boolean;
  /** Every mounted player by clip index, for the transcript to seek. */
  players: Map<number, HTMLVideoElement>;
  onActive: (index: number) => void;
}

export function ClipGrid({ clips, highlights, manifest, live, players, onActive }: Props) {
  const items = clips.data?.items ?? [];
  return (
    <section aria-labelledby="clips-h">
      <h2 id="clips-h">Clips</h2>
      {clips.loading && !clips.data && <Loading what="the clips" />}
      {!isNotFound(clips.error) && <ErrorNote error={clips.error} />}
      {((clips.data && items.length === 0) || (!clips.data && isNotFound(clips.error))) && (
        <p class="muted">
          {live ? "Clips appear here once the job has rendered them." : (manifest?.note ?? "This job produced no clips.")}
        </p>
      )}
      {items.length > 0 && (
        <div class="grid clips">
          {items.map((c) => (
            <ClipCard
              key={c.id}
              clip={c}
              highlight={highlights.find((h) => h.rank === c.highlight_rank)}
              players={players}
              onActive={onActive}
            />
          ))}
        </div>
      )}
      {manifest && manifest.skipped.length > 0 && (
        <div class="skipped">
          <h3>Not rendered</h3>
          <ul>
            {manifest.skipped.map((s, i) => (
              <li key={i}>
                {s.highlight_rank != null ? `Highlight ${s.highlight_rank}` : `Range ${(s.range ?? 0) + 1}`}:{" "}
                {s.message} <span class="code muted">({s.code})</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

const KIND_LABEL: Record<string, string> = {
  srt: "Captions (SRT)",
  vtt: "Captions (VTT)",
  thumbnail: "Thumbnail (JPEG)",
  preview: "Preview (MP4, muted)",
};

function fileLabel(f: ClipFile): string {
  if (f.kind === "video") return `${cap(f.format ?? "video")} video (MP4)`;
  return KIND_LABEL[f.kind] ?? f.name;
}

interface CardProps {
  clip: ClipView;
  highlight: HighlightView | undefined;
  players: Map<number, HTMLVideoElement>;
  onActive: (index: number) => void;
}

function ClipCard({ clip: c, highlight, players, onActive }: CardProps) {
  const videos = c.files.filter((f) => f.kind === "video" && f.url);
  const [format, setFormat] = useState(videos[0]?.format ?? null);
  const [preview, setPreview] = useState(false);
  const video = videos.find((f) => f.format === format) ?? videos[0];
  const thumb = c.files.find((f) => f.kind === "thumbnail")?.url ?? undefined;
  const previewUrl = c.files.find((f) => f.kind === "preview")?.url;
  const reasons = (highlight?.reasons ?? []) as unknown as Reason[];
  const d = details(c);
  const head = `clip-${c.index}-h`;

  return (
    <article class="clip" data-clip={c.index} aria-labelledby={head} tabIndex={-1}>
      <h3 id={head}>
        <span class="clip-no">{c.index}.</span> {c.title}
      </h3>
      {c.status === "held" || !video?.url ? (
        <div class="held" role="note">
          <p>
            <span class="badge status-held">held</span>{" "}
            {c.status === "held"
              ? `Held by moderation until a reviewer approves ${c.held_by.length === 1 ? "the flag" : `${c.held_by.length} flags`} on it.`
              : "No video file was published for this clip."}
          </p>
          {c.status === "held" && <Link href="/review">Open the review queue</Link>}
        </div>
      ) : (
        <video
          key={video.url}
          ref={(el) => {
            if (el) players.set(c.index, el);
            else players.delete(c.index);
          }}
          controls
          preload="metadata"
          playsInline
          src={video.url}
          poster={thumb}
          aria-label={`Clip ${c.index}: ${c.title}`}
          onPlay={() => onActive(c.index)}
          onFocus={() => onActive(c.index)}
        />
      )}
      {videos.length > 1 && (
        <label class="inline-label small">
          Format
          <select
            aria-label={`Format of clip ${c.index}`}
            value={format ?? ""}
            onChange={(e) => setFormat((e.target as HTMLSelectElement).value as typeof format)}
          >
            {videos.map((f) => (
              <option key={f.name} value={f.format ?? ""}>
                {f.format}
              </option>
            ))}
          </select>
        </label>
      )}
      {previewUrl && (
        <div class="preview">
          <button
            type="button"
            class="link"
            aria-pressed={preview}
            onClick={() => setPreview(!preview)}
          >
            {preview ? `Hide the preview of clip ${c.index}` : `Show the preview of clip ${c.index} (first seconds, muted)`}
          </button>
          {preview && <PreviewLoop url={previewUrl} title={c.title} />}
        </div>
      )}
      {c.hook && <blockquote class="hook">{c.hook}</blockquote>}
      <dl class="facts small">
        <dt>Score</dt>
        <dd>{c.highlight_rank != null ? `${c.score} / 100 (highlight ${c.highlight_rank})` : "chosen by hand"}</dd>
        <dt>Length</dt>
        <dd>{clock(c.duration)}</dd>
        <dt>From the source</dt>
        <dd>{span(c)}</dd>
        {d.kind === "audiogram" && (
          <>
            <dt>Picture</dt>
            <dd>audiogram: the source has no picture, so its sound is drawn</dd>
          </>
        )}
        {d.loudness?.lufs != null && (
          <>
            <dt>Loudness</dt>
            <dd>{d.loudness.lufs.toFixed(1)} LUFS</dd>
          </>
        )}
        {d.tightened && d.tightened.seconds_saved > 0 && (
          <>
            <dt>Pauses cut</dt>
            <dd>{d.tightened.seconds_saved.toFixed(1)} s</dd>
          </>
        )}
      </dl>
      {reasons.length > 0 && (
        <>
          <h4 class="small">Why it scored</h4>
          <ul class="reasons small">
            {reasons.map((r, i) => (
              <li key={i}>
                <strong>{cap(r.signal)}</strong>
                {r.points != null && ` +${r.points}`}: {r.detail}
              </li>
            ))}
          </ul>
        </>
      )}
      {c.status === "ready" && c.files.some((f) => f.url) && (
        <ul class="clip-files small" aria-label={`Files of clip ${c.index}`}>
          {c.files
            .filter((f) => f.url)
            .map((f) => (
              <li key={f.name}>
                <a download href={f.url!}>
                  {fileLabel(f)}
                  <span class="visually-hidden"> of clip {c.index}</span>
                </a>{" "}
                <span class="muted">{bytes(f.size_bytes)}</span>
              </li>
            ))}
        </ul>
      )}
    </article>
  );
}

/** The muted looping preview; only there while asked for, so a card has one player otherwise. */
function PreviewLoop({ url, title }: { url: string; title: string }) {
  return (
    <video class="preview-loop" src={url} muted autoplay loop playsInline aria-label={`Preview: ${title}`} />
  );
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

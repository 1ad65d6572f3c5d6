// The job's timeline as a picture: momentary loudness as waveform-like
// bars, silences greyed, highlights in amber over the source's duration.
// The SVG is one image for assistive technology (its label says what it
// shows); the highlights are real buttons laid over it, and the transcript
// and highlight list below carry the same information as text.

import { useId } from "preact/hooks";
import { clock } from "../format";
import { ErrorNote, Loading, type Loaded } from "./common";
import { length, span, type HighlightView, type LoudnessReport, type SilenceReport } from "./jobOutputs";

/** Bars drawn at most, whatever the length: an hour is 36 000 values. */
const MAX_BARS = 480;
/** LUFS mapped to an empty and a full bar; speech sits around -20. */
const FLOOR = -60;
const CEIL = -5;
const W = 1000;
const H = 60;

interface Props {
  /** Seconds of media, when anything has said. */
  duration: number | null;
  loudness: Loaded<LoudnessReport | null>;
  silences: Loaded<SilenceReport | null>;
  highlights: HighlightView[];
  /** A time picked on the strip. */
  onPick: (t: number) => void;
  /** A highlight chosen: its clip, if it has one. */
  onHighlight: (rank: number) => void;
  /** Whether outputs may still appear. */
  live: boolean;
}

export function TimelineSection(p: Props) {
  const loud = p.loudness.data ?? null;
  const sil = p.silences.data ?? null;
  const loading = (p.loudness.loading && !loud) || (p.silences.loading && !sil);
  const duration =
    sil?.duration ?? p.duration ?? (loud ? loud.momentary.values.length * loud.momentary.interval : null);
  return (
    <section aria-labelledby="timeline-h">
      <h2 id="timeline-h">Timeline</h2>
      <ErrorNote error={p.loudness.error} />
      <ErrorNote error={p.silences.error} />
      {!duration || duration <= 0 || (!loud && !sil && p.highlights.length === 0) ? (
        loading ? (
          <Loading what="the timeline" />
        ) : (
          <p class="muted">
            {p.live
              ? "The timeline appears once the audio has been measured."
              : "This job has no audio measurements to draw."}
          </p>
        )
      ) : (
        <>
          <Strip {...p} duration={duration} loud={loud} sil={sil} />
          {!loud && !sil && !loading && (
            <p class="muted small">
              The loudness and silence reports are missing, so only the highlights are drawn.
            </p>
          )}
          <Numbers loud={loud} sil={sil} />
        </>
      )}
    </section>
  );
}

function Strip({
  duration,
  loud,
  sil,
  highlights,
  onPick,
  onHighlight,
}: Props & { duration: number; loud: LoudnessReport | null; sil: SilenceReport | null }) {
  const id = useId();
  const x = (t: number) => (Math.min(Math.max(t, 0), duration) / duration) * W;
  const pct = (t: number) => `${(Math.min(Math.max(t, 0), duration) / duration) * 100}%`;
  const silences = sil?.silences ?? [];
  const noise = silences.some((s) => s.kind === "noise");
  const label =
    `${loud ? "Loudness" : sil ? "Speech and silence" : "Highlights"} over ${length(duration)}: ` +
    `${count(silences.length, "silence")}, ${count(highlights.length, "highlight")}`;

  const pick = (e: MouseEvent) => {
    const box = (e.currentTarget as SVGElement).getBoundingClientRect();
    if (box.width > 0) onPick(((e.clientX - box.left) / box.width) * duration);
  };

  return (
    <div class="timeline">
      <div class="timeline-strip">
        <svg
          role="img"
          aria-label={label}
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          onClick={pick}
        >
          <title>{label}. Click to find the line said at that time.</title>
          <defs>
            <pattern id={`${id}-noise`} width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <rect class="silence" width="8" height="8" />
              <line class="hatch" x1="0" y1="0" x2="0" y2="8" />
            </pattern>
          </defs>
          {silences.map((s) => (
            <rect
              key={s.start}
              class={s.kind === "noise" ? undefined : "silence"}
              fill={s.kind === "noise" ? `url(#${id}-noise)` : undefined}
              x={x(s.start)}
              width={Math.max(x(s.end) - x(s.start), 0.5)}
              y={0}
              height={H}
            />
          ))}
          {highlights.map((h) => (
            <rect key={h.rank} class="hl" x={x(h.start)} width={Math.max(x(h.end) - x(h.start), 1)} y={0} height={H} />
          ))}
          <path class="bars" d={loud ? bars(loud, duration) : speechBand(sil, duration)} />
        </svg>
        {highlights.map((h) => (
          <button
            key={h.rank}
            type="button"
            class="hl-mark"
            style={{ left: pct(h.start), width: `max(1.5rem, ${((h.end - h.start) / duration) * 100}%)` }}
            aria-label={`Highlight ${h.rank}, ${span(h)}, score ${h.score}`}
            title={`${h.rank}. ${h.title} (${span(h)})`}
            onClick={() => onHighlight(h.rank)}
          >
            {h.rank}
          </button>
        ))}
      </div>
      <div class="timeline-axis" aria-hidden="true">
        {[0, 0.25, 0.5, 0.75, 1].map((f) => (
          <span key={f} style={{ left: `${f * 100}%` }}>
            {clock(f * duration)}
          </span>
        ))}
      </div>
      <ul class="legend" aria-label="Legend">
        {loud && (
          <li>
            <span class="swatch speech" /> Loudness (bar height, momentary LUFS)
          </li>
        )}
        {!loud && sil && (
          <li>
            <span class="swatch speech" /> Speech
          </li>
        )}
        {sil && (
          <li>
            <span class="swatch silence" /> Silence
          </li>
        )}
        {noise && (
          <li>
            <span class="swatch noise" /> Sound without speech (music, laughter…)
          </li>
        )}
        {highlights.length > 0 && (
          <li>
            <span class="swatch hl" /> Highlight (numbered by rank; choose one to see its clip)
          </li>
        )}
      </ul>
    </div>
  );
}

/** The loudness series as mirrored bars about the middle, one path. */
function bars(loud: LoudnessReport, duration: number): string {
  const { values, interval } = loud.momentary;
  const n = Math.max(1, Math.min(MAX_BARS, values.length));
  const peak: number[] = new Array<number>(n).fill(-Infinity);
  values.forEach((v, i) => {
    if (v === null) return;
    // values[i] ends at (i + 1) * interval; its middle is the fairer place.
    const b = Math.min(n - 1, Math.floor((((i + 0.5) * interval) / duration) * n));
    if (b >= 0 && v > peak[b]!) peak[b] = v;
  });
  const step = W / n;
  let d = "";
  peak.forEach((v, b) => {
    if (!Number.isFinite(v)) return;
    const half = Math.max(0.5, ((Math.min(Math.max(v, FLOOR), CEIL) - FLOOR) / (CEIL - FLOOR)) * (H / 2 - 2));
    d += `M${(b * step + step * 0.1).toFixed(1)} ${(H / 2 - half).toFixed(1)}h${(step * 0.8).toFixed(2)}v${(2 * half).toFixed(1)}h${(-step * 0.8).toFixed(2)}z`;
  });
  return d;
}

/** Without loudness: speech as a flat band, so speech and silence still show. */
function speechBand(sil: SilenceReport | null, duration: number): string {
  if (!sil) return "";
  return sil.speech
    .map((s) => {
      const a = (s.start / duration) * W;
      const b = (Math.min(s.end, duration) / duration) * W;
      return `M${a.toFixed(1)} ${H / 2 - 8}H${b.toFixed(1)}v16H${a.toFixed(1)}z`;
    })
    .join("");
}

function Numbers({ loud, sil }: { loud: LoudnessReport | null; sil: SilenceReport | null }) {
  const facts: string[] = [];
  const db = (v: number | null, unit: string) => (v === null ? "silent" : `${v.toFixed(1)} ${unit}`);
  if (loud) {
    facts.push(`integrated loudness ${db(loud.integrated_lufs, "LUFS")}`);
    if (loud.loudness_range_lu !== null) facts.push(`loudness range ${loud.loudness_range_lu.toFixed(1)} LU`);
    facts.push(`true peak ${db(loud.true_peak_dbtp, "dBTP")}`);
  }
  if (sil) {
    facts.push(`speech ${length(sil.speech_total)}`);
    facts.push(`silence ${length(sil.silence_total)} in ${count(sil.silences.length, "stretch", "stretches")}`);
  }
  if (facts.length === 0) return null;
  return <p class="muted small">{cap(facts.join(" · "))}.</p>;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

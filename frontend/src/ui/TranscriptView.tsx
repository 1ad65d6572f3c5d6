// The transcript: one line per segment with its speaker and a timestamp
// button, and (members and up) an editor per line. Corrections are saved
// through the API; clips rendered afterwards caption the corrected words.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, must } from "../api/client";
import { clock, percent } from "../format";
import { CaptionLinks } from "./Captions";
import { ErrorNote, Loading, type Loaded } from "./common";
import { isNotFound, length, type Segment, type Transcript } from "./jobOutputs";

interface Props {
  jobId: string;
  transcript: Loaded<Transcript>;
  canEdit: boolean;
  live: boolean;
  /** The time last picked anywhere on the page; `n` changes on every pick. */
  picked: { t: number; n: number } | null;
  onTime: (t: number) => void;
}

export function TranscriptView({ jobId, transcript, canEdit, live, picked, onTime }: Props) {
  const list = useRef<HTMLOListElement>(null);
  const t = transcript.data;
  const segments = t?.segments ?? [];
  const current = picked ? lineAt(segments, picked.t) : null;

  // Brings the picked line into view; a click on the line's own button
  // finds it already there, so nothing moves.
  useEffect(() => {
    if (current === null) return;
    list.current?.querySelector(`[data-segment="${current}"]`)?.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }, [picked?.n]);

  const saved = (s: Segment) =>
    transcript.set((old) => old && { ...old, segments: old.segments.map((x) => (x.id === s.id ? s : x)) });

  const speakers = new Set(segments.map((s) => s.speaker).filter(Boolean));
  // The library's names for the labels it recognised ("S1" -> "Ada").
  const names: Record<string, string> = t?.speaker_names ?? {};
  return (
    <section aria-labelledby="transcript-h">
      <h2 id="transcript-h">Transcript</h2>
      {transcript.loading && !t && <Loading what="the transcript" />}
      {transcript.error !== null && !t &&
        (isNotFound(transcript.error) ? (
          <p class="muted">
            {live
              ? "The transcript appears once the transcription stage has run."
              : "This job has no transcript."}
          </p>
        ) : (
          <ErrorNote error={transcript.error} />
        ))}
      {t && (
        <>
          <p class="muted small">
            {length(t.duration)} of audio · {t.language ? `language ${t.language}` : "no speech detected"}
            {t.language_probability != null && ` (${percent(t.language_probability)} sure)`} · model {t.model}
            {speakers.size > 0 && ` · ${speakers.size} ${speakers.size === 1 ? "speaker" : "speakers"}`}
          </p>
          {segments.length > 0 && <CaptionLinks jobId={jobId} />}
          {segments.length === 0 ? (
            <p class="muted">Nothing was said.</p>
          ) : (
            <>
              <p class="muted small">
                A timestamp plays the clip that holds that moment, if one does; otherwise it only marks the
                line (the full video is not kept for playback).
                {canEdit && " Corrected lines are used by the captions of clips rendered from now on."}
              </p>
              <div class="transcript-scroll">
                <ol class={Object.keys(names).length > 0 ? "transcript named" : "transcript"} ref={list}>
                  {segments.map((s) => (
                    <Line
                      key={s.id}
                      jobId={jobId}
                      segment={s}
                      name={s.speaker ? names[s.speaker] : undefined}
                      current={s.id === current}
                      canEdit={canEdit}
                      onTime={onTime}
                      onSaved={saved}
                    />
                  ))}
                </ol>
              </div>
            </>
          )}
        </>
      )}
    </section>
  );
}

/** The segment being said at `t`, or the last one begun before it. */
function lineAt(segments: Segment[], t: number): number | null {
  let best: Segment | undefined;
  for (const s of segments) {
    if (s.start <= t + 0.001) best = s;
    if (t < s.end && s.start <= t + 0.001) return s.id;
  }
  return best?.id ?? segments[0]?.id ?? null;
}

interface LineProps {
  jobId: string;
  segment: Segment;
  /** The speaker library's name for the segment's speaker, when it has one. */
  name?: string;
  current: boolean;
  canEdit: boolean;
  onTime: (t: number) => void;
  onSaved: (s: Segment) => void;
}

function Line({ jobId, segment: s, name, current, canEdit, onTime, onSaved }: LineProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const edit = useRef<HTMLButtonElement>(null);
  const editing = draft !== null;
  const n = s.id;

  useEffect(() => {
    if (editing) box.current?.focus();
  }, [editing]);

  const close = () => {
    setDraft(null);
    setError(null);
    // Focus would otherwise fall to the page's start with the textarea gone.
    setTimeout(() => edit.current?.focus(), 0);
  };

  const save = async () => {
    if (draft === null) return;
    const text = draft.trim();
    if (!text) {
      setError(new Error("A line cannot be empty."));
      return;
    }
    if (text === s.text.trim()) {
      close();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const segment = must(
        await api.PATCH("/v1/jobs/{id}/transcript/segments/{segment}", {
          params: { path: { id: jobId, segment: n } },
          body: { text },
        }),
      );
      onSaved(segment);
      close();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li data-segment={n} class={current ? "current" : undefined} aria-current={current ? "true" : undefined}>
      <button
        type="button"
        class="link time"
        aria-label={`Go to ${clock(s.start)} (line ${n})`}
        onClick={() => onTime(s.start)}
      >
        {clock(s.start)}
      </button>
      {s.speaker ? (
        name ? (
          <span class="speaker named" title={`Speaker ${s.speaker}`} data-label={s.speaker}>
            {name}
          </span>
        ) : (
          <span class="speaker" data-label={s.speaker}>
            {s.speaker}
          </span>
        )
      ) : (
        <span class="speaker none" aria-hidden="true" />
      )}
      {editing ? (
        <form
          class="line-edit"
          onKeyDown={(e) => {
            if (e.key === "Escape" && !busy) close();
          }}
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <textarea
            ref={box}
            aria-label={`Text of line ${n}`}
            value={draft}
            rows={Math.min(6, Math.max(2, Math.ceil(draft.length / 70)))}
            maxLength={2000}
            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void save();
              }
            }}
          />
          <div class="line-buttons">
            <button type="submit" disabled={busy}>
              {busy ? "Saving…" : "Save"}
            </button>
            <button type="button" class="secondary" onClick={close} disabled={busy}>
              Cancel
            </button>
            <span class="muted small">Ctrl+Enter saves, Escape cancels.</span>
          </div>
          <ErrorNote error={error} />
        </form>
      ) : (
        <p class="line-text">
          <span class="text">{s.text.trim()}</span>
          {s.edited_at && <span class="badge edited">corrected</span>}
          {s.confidence < 0.5 && !s.edited_at && (
            <span class="badge unsure" title="The model was unsure of these words">
              unsure
            </span>
          )}
        </p>
      )}
      {canEdit && !editing && (
        <button
          type="button"
          class="secondary edit"
          ref={edit}
          aria-label={`Edit line ${n}`}
          onClick={() => setDraft(s.text.trim())}
        >
          Edit
        </button>
      )}
    </li>
  );
}

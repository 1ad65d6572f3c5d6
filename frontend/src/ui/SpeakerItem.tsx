// One speaker of the library: its name (renamed in place), counts and
// consent, merging another speaker into it, deleting it, uploading a
// recording of their voice as a sample, and the samples of its voice,
// read when first shown.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, must } from "../api/client";
import { when } from "../format";
import { inputValue, useAction } from "../pages/settings/parts";
import { Link } from "../router";
import { ErrorNote, Loading, useLoad } from "./common";
import { acceptable, type Progress } from "../upload";
import { deleteSpeaker, enrolled, sourceText, speech, uploadSample, type Sample, type Speaker } from "./speakers";

interface Props {
  speaker: Speaker;
  /** The other speakers, to merge into this one. */
  others: Speaker[];
  canWrite: boolean;
  onChange: (s: Speaker) => void;
  onRemove: () => void;
  /** Another speaker was merged into this one, and so deleted. */
  onMerged: (from: string) => void;
}

export function SpeakerItem({ speaker: s, others, canWrite, onChange, onRemove, onMerged }: Props) {
  const act = useAction();
  const [showSamples, setShowSamples] = useState(false);
  // Bumped when a merge brings in samples, so an open list reads again.
  const [gen, setGen] = useState(0);
  const path = { params: { path: { id: s.id } } };

  return (
    <li class="speaker-item" data-speaker={s.id}>
      <div class="row">
        <Name speaker={s} canWrite={canWrite} onChange={onChange} />
        {canWrite && (
          <button
            type="button"
            class="danger"
            aria-label={`Delete ${s.name}`}
            disabled={act.busy}
            onClick={() => {
              const question = `Delete ${s.name}? Their ${s.samples} voice samples go too, and jobs stop naming them.`;
              if (!confirm(question)) return;
              void act.run(async () => {
                await deleteSpeaker(s.id);
                onRemove();
              });
            }}
          >
            Delete
          </button>
        )}
      </div>
      <p class="muted small meta">
        {s.samples} {s.samples === 1 ? "sample" : "samples"} · named in {s.jobs} {s.jobs === 1 ? "job" : "jobs"} ·{" "}
        {s.consent ? "consent given" : "no consent recorded"}
        {s.external_id && (
          <>
            {" "}
            · external id <code>{s.external_id}</code>
          </>
        )}{" "}
        · added {when(s.created_at)}
      </p>
      <ErrorNote error={act.error} />
      {canWrite && others.length > 0 && (
        <Merge
          into={s}
          others={others}
          onMerged={(n, from) => {
            onChange(n);
            onMerged(from);
            setGen((g) => g + 1);
          }}
        />
      )}
      {canWrite && (
        <UploadSample
          speaker={s}
          onAdded={async () => {
            onChange(must(await api.GET("/v1/speakers/{id}", path)));
            setGen((g) => g + 1);
            setShowSamples(true);
          }}
        />
      )}
      <button
        type="button"
        class="link"
        aria-expanded={showSamples}
        aria-controls={`samples-${s.id}`}
        onClick={() => setShowSamples((v) => !v)}
      >
        {showSamples ? "Hide" : "Show"} the samples of {s.name}
      </button>
      <div id={`samples-${s.id}`}>
        {showSamples && (
          <Samples
            speaker={s}
            gen={gen}
            canWrite={canWrite}
            onRemoved={async () => onChange(must(await api.GET("/v1/speakers/{id}", path)))}
          />
        )}
      </div>
    </li>
  );
}

/** The name, and (members and up) a Rename button that edits it in place. */
function Name({ speaker: s, canWrite, onChange }: { speaker: Speaker; canWrite: boolean; onChange: (s: Speaker) => void }) {
  const [draft, setDraft] = useState<string | null>(null);
  const save = useAction();
  const box = useRef<HTMLInputElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const editing = draft !== null;
  useEffect(() => {
    if (editing) box.current?.focus();
  }, [editing]);
  const close = () => {
    setDraft(null);
    save.setError(null);
    setTimeout(() => button.current?.focus(), 0);
  };

  if (!editing)
    return (
      <div class="speaker-name">
        <h3>{s.name}</h3>
        {canWrite && (
          <button
            type="button"
            class="secondary"
            ref={button}
            aria-label={`Rename ${s.name}`}
            onClick={() => setDraft(s.name)}
          >
            Rename
          </button>
        )}
      </div>
    );
  return (
    <form
      class="inline rename"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !save.busy) close();
      }}
      onSubmit={(e) => {
        e.preventDefault();
        const name = (draft ?? "").trim();
        if (name === s.name) return close();
        void save.run(async () => {
          if (!name) throw new Error("A name cannot be empty.");
          onChange(must(await api.PATCH("/v1/speakers/{id}", { params: { path: { id: s.id } }, body: { name } })));
          close();
        });
      }}
    >
      <label>
        New name for {s.name}
        <input ref={box} required maxLength={200} value={draft ?? ""} onInput={(e) => setDraft(inputValue(e))} />
      </label>
      <button type="submit" disabled={save.busy}>
        {save.busy ? "Saving…" : "Save"}
      </button>
      <button type="button" class="secondary" disabled={save.busy} onClick={close}>
        Cancel
      </button>
      <ErrorNote error={save.error} />
    </form>
  );
}

/** Merges a chosen speaker into `into`: theirs become its samples and jobs, and they are deleted. */
function Merge({ into, others, onMerged }: { into: Speaker; others: Speaker[]; onMerged: (s: Speaker, from: string) => void }) {
  const [from, setFrom] = useState("");
  const act = useAction();
  const chosen = others.find((o) => o.id === from);
  return (
    <form
      class="inline merge"
      onSubmit={(e) => {
        e.preventDefault();
        if (!chosen) return;
        const question = `Merge ${chosen.name} into ${into.name}? ${chosen.name}'s samples and jobs become ${into.name}'s, and ${chosen.name} is deleted.`;
        if (!confirm(question)) return;
        void act.run(async () => {
          const merged = must(
            await api.POST("/v1/speakers/{id}/merge", { params: { path: { id: into.id } }, body: { from: chosen.id } }),
          );
          setFrom("");
          onMerged(merged, chosen.id);
        });
      }}
    >
      <label>
        Merge into {into.name}
        <select value={from} onChange={(e) => setFrom(inputValue(e))}>
          <option value="">Choose a speaker…</option>
          {others.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
              {o.external_id ? ` (${o.external_id})` : ""}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="secondary" disabled={act.busy || !chosen}>
        {act.busy ? "Merging…" : "Merge"}
      </button>
      <ErrorNote error={act.error} />
    </form>
  );
}

/**
 * A recording of the speaker alone (5-120 s of speech) uploaded as a
 * sample: sent through a presigned URL with progress, then enrolled by a
 * job of its own, whose refusal (too short, too noisy, several voices) is
 * shown as it comes.
 */
function UploadSample({ speaker: s, onAdded }: { speaker: Speaker; onAdded: () => Promise<void> }) {
  const act = useAction();
  const [state, setState] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const cancel = useRef<(() => void) | null>(null);
  const sent = (p: Progress) => setState(`Uploading… ${p.total ? Math.floor((p.sent * 100) / p.total) : 0} %`);
  return (
    <form
      class="inline upload-sample"
      onSubmit={(e) => {
        e.preventDefault();
        const file = input.current?.files?.[0];
        if (!file) return;
        setDone(null);
        void act.run(async () => {
          try {
            const refused = acceptable(file);
            if (refused) throw new Error(refused);
            const u = uploadSample(s.id, file, sent);
            cancel.current = u.cancel;
            const job = await u.done;
            cancel.current = null;
            await enrolled(job, (pct) => setState(`Finding the voice… ${pct} %`));
            if (input.current) input.current.value = "";
            setDone(`Added a sample of ${s.name}'s voice from ${file.name}.`);
            await onAdded();
          } finally {
            cancel.current = null;
            setState(null);
          }
        });
      }}
    >
      <label>
        Upload a recording of {s.name} <span class="hint">(5 to 120 s of them speaking alone)</span>
        <input ref={input} type="file" accept="audio/*,video/*" required disabled={act.busy} />
      </label>
      <button type="submit" class="secondary" disabled={act.busy}>
        {act.busy ? "Enrolling…" : "Upload sample"}
      </button>
      {act.busy && cancel.current && (
        <button type="button" class="secondary" onClick={() => cancel.current?.()}>
          Cancel
        </button>
      )}
      <p class="muted small" role="status">
        {state ?? done ?? ""}
      </p>
      <ErrorNote error={act.error} />
    </form>
  );
}

function Samples({
  speaker: s,
  gen,
  canWrite,
  onRemoved,
}: {
  speaker: Speaker;
  gen: number;
  canWrite: boolean;
  onRemoved: () => Promise<void>;
}) {
  const samples = useLoad(
    async () => must(await api.GET("/v1/speakers/{id}/samples", { params: { path: { id: s.id } } })).items,
    [s.id, gen],
  );
  if (samples.loading && !samples.data) return <Loading what={`the samples of ${s.name}`} />;
  if (!samples.data) return <ErrorNote error={samples.error} />;
  if (samples.data.length === 0)
    return (
      <p class="muted small">
        No samples yet: {s.name} is not recognised until one is enrolled from a job's Speakers section, or a
        recording of them is uploaded.
      </p>
    );
  return (
    <div class="table-wrap">
      <table class="stack samples">
        <caption class="visually-hidden">Samples of {s.name}</caption>
        <thead>
          <tr>
            <th scope="col">Speech</th>
            <th scope="col">Taken from</th>
            <th scope="col">Job</th>
            <th scope="col">Model</th>
            <th scope="col">Added</th>
            {canWrite && (
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {samples.data.map((x) => (
            <SampleRow
              key={x.id}
              sample={x}
              canWrite={canWrite}
              onRemoved={async () => {
                samples.set((old) => old?.filter((y) => y.id !== x.id));
                await onRemoved();
              }}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SampleRow({ sample: x, canWrite, onRemoved }: { sample: Sample; canWrite: boolean; onRemoved: () => Promise<void> }) {
  const act = useAction();
  return (
    <tr data-sample={x.id}>
      <td data-label="Speech">{speech(x.seconds)}</td>
      <td data-label="Taken from">
        {sourceText(x.source)}
        {x.label && <span class="muted"> ({x.label})</span>}
      </td>
      <td data-label="Job">{x.job_id ? <Link href={`/jobs/${x.job_id}`}>Open the job</Link> : <span class="muted">deleted</span>}</td>
      <td data-label="Model">{x.model}</td>
      <td data-label="Added">{when(x.created_at)}</td>
      {canWrite && (
        <td>
          <button
            type="button"
            class="danger"
            disabled={act.busy}
            aria-label={`Remove the sample of ${speech(x.seconds)} added ${when(x.created_at)}`}
            onClick={() => {
              if (!confirm("Remove this sample? The speaker's voice is matched without it from now on.")) return;
              void act.run(async () => {
                must(
                  await api.DELETE("/v1/speakers/{id}/samples/{sample_id}", {
                    params: { path: { id: x.speaker_id, sample_id: x.id } },
                  }),
                );
                await onRemoved();
              });
            }}
          >
            Remove
          </button>
          <ErrorNote error={act.error} />
        </td>
      )}
    </tr>
  );
}

// The job page's speakers: the voices the job told apart, who the speaker
// library says each one is, and (members and up) enrolling a voice as a
// sample of a library speaker, new or existing. The API names the job's
// (and the organisation's other jobs') speakers again at once, so the list
// and the transcript are read again afterwards.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, must } from "../api/client";
import { percent } from "../format";
import { inputValue, useAction } from "../pages/settings/parts";
import { Link } from "../router";
import { ErrorNote, Loading, useLoad } from "./common";
import { isNotFound } from "./jobOutputs";
import { createSpeaker, deleteSpeaker, enrol, listSpeakers, speech, type JobSpeaker, type Speaker } from "./speakers";

interface Props {
  jobId: string;
  /** Bumped when the job's results may have changed. */
  gen: number;
  live: boolean;
  canWrite: boolean;
  /** After an enrolment: the transcript's names may have changed. */
  onNamed: () => void;
}

export function JobSpeakers({ jobId, gen, live, canWrite, onNamed }: Props) {
  const speakers = useLoad(
    async () => must(await api.GET("/v1/jobs/{id}/speakers", { params: { path: { id: jobId } } })),
    [jobId, gen],
  );
  const list = speakers.data?.speakers ?? [];
  // After a change to the library, past jobs are named again in the
  // background: read again until that is done.
  const relabelling = speakers.data?.relabelling ?? false;
  useEffect(() => {
    if (!relabelling) return;
    const t = setTimeout(() => speakers.reload(), 2000);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [speakers.data]);
  return (
    <section aria-labelledby="speakers-h">
      <h2 id="speakers-h">Speakers</h2>
      {speakers.loading && !speakers.data && <Loading what="the speakers" />}
      {!speakers.data && !isNotFound(speakers.error) && <ErrorNote error={speakers.error} />}
      {speakers.data && list.length === 0 && (
        <p class="muted">
          {live ? "The voices appear once the speakers stage has run." : "No voices were told apart in this job."}
        </p>
      )}
      {list.length > 0 && (
        <>
          <p class="muted small">
            Voices are named from the samples in the <Link href="/speakers">speaker library</Link>
            {canWrite && "; enrolling a voice adds it as a sample, and names it in this and the other jobs"}.
            {relabelling && " The library just changed: the names are being brought up to date."}
          </p>
          <ul class="job-speakers">
            {list.map((s) => (
              <SpeakerLine
                key={s.label}
                jobId={jobId}
                speaker={s}
                canWrite={canWrite}
                onEnrolled={() => {
                  speakers.reload();
                  onNamed();
                }}
              />
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function SpeakerLine({
  jobId,
  speaker: s,
  canWrite,
  onEnrolled,
}: {
  jobId: string;
  speaker: JobSpeaker;
  canWrite: boolean;
  onEnrolled: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  return (
    <li data-label={s.label} data-speaker={s.speaker_id ?? undefined}>
      <div class="row">
        <p class="voice">
          <strong>{s.name ?? "unknown"}</strong> <span class="muted">({s.label})</span> · {speech(s.seconds)} of speech
          {s.named_by === "voice" && (
            <span class="muted small">
              {" "}
              · recognised by voice
              {s.confidence != null && `, ${percent(s.confidence)} of the lines`}
              {s.similarity != null && `, similarity ${s.similarity.toFixed(2)}`}
            </span>
          )}
          {s.named_by === "enrolment" && <span class="muted small"> · enrolled from this job</span>}
        </p>
        {canWrite && !open && (
          <button
            type="button"
            class="secondary"
            aria-label={`Enrol ${s.label} in the speaker library`}
            onClick={() => {
              setDone(null);
              setOpen(true);
            }}
          >
            Enrol
          </button>
        )}
      </div>
      {open && (
        <EnrolForm
          jobId={jobId}
          speaker={s}
          onClose={() => setOpen(false)}
          onEnrolled={(name) => {
            setOpen(false);
            setDone(`Enrolled ${s.label} as ${name}.`);
            onEnrolled();
          }}
        />
      )}
      <p class="ok small" role="status">
        {done}
      </p>
    </li>
  );
}

const NEW = "new";

function EnrolForm({
  jobId,
  speaker: s,
  onClose,
  onEnrolled,
}: {
  jobId: string;
  speaker: JobSpeaker;
  onClose: () => void;
  onEnrolled: (name: string) => void;
}) {
  const library = useLoad(() => listSpeakers(), []);
  const [choice, setChoice] = useState(s.speaker_id ?? "");
  const [name, setName] = useState("");
  const [consent, setConsent] = useState(false);
  const act = useAction();
  const select = useRef<HTMLSelectElement>(null);
  useEffect(() => select.current?.focus(), [library.data]);
  // An empty library leaves only a new speaker to choose.
  const none = library.data?.length === 0;
  const pick = none ? NEW : choice;

  const submit = () =>
    act.run(async () => {
      let target: Speaker | undefined;
      let made = false;
      if (pick === NEW) {
        if (!name.trim()) throw new Error("Type the new speaker's name.");
        target = await createSpeaker(name, "", consent);
        made = true;
      } else {
        target = library.data?.find((x) => x.id === pick);
        if (!target) throw new Error("Choose a speaker, or a new one.");
      }
      try {
        await enrol(target.id, jobId, s.label);
      } catch (e) {
        // A refused sample leaves no empty speaker behind.
        if (made) await deleteSpeaker(target.id).catch(() => undefined);
        throw e;
      }
      onEnrolled(target.name);
    });

  return (
    <form
      class="inline enrol"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !act.busy) onClose();
      }}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {library.loading && !library.data && <Loading what="the library" />}
      <ErrorNote error={library.error} />
      {library.data && !none && (
        <label>
          {s.label} is
          <select ref={select} value={choice} onChange={(e) => setChoice(inputValue(e))}>
            <option value="">Choose a speaker…</option>
            {library.data.map((x) => (
              <option key={x.id} value={x.id}>
                {x.name}
                {x.external_id ? ` (${x.external_id})` : ""}
              </option>
            ))}
            <option value={NEW}>A new speaker…</option>
          </select>
        </label>
      )}
      {library.data && pick === NEW && (
        <label>
          Name of the new speaker
          <input required maxLength={200} value={name} onInput={(e) => setName(inputValue(e))} />
        </label>
      )}
      {library.data && pick === NEW && (
        <label class="check">
          <input
            type="checkbox"
            checked={consent}
            onChange={(e) => setConsent((e.target as HTMLInputElement).checked)}
          />
          They agreed to their voice being kept and recognised
        </label>
      )}
      <button type="submit" disabled={act.busy || !library.data}>
        {act.busy ? "Enrolling…" : `Enrol ${s.label}`}
      </button>
      <button type="button" class="secondary" disabled={act.busy} onClick={onClose}>
        Cancel
      </button>
      <ErrorNote error={act.error} />
    </form>
  );
}

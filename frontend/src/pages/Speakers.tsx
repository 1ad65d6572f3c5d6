// The speaker library: the organisation's people whose voices the jobs
// are matched against. Everyone may list them and their samples; members
// and up add, rename, merge and delete them, and remove samples
// (api/src/routes/speakers/). Samples are taken from jobs, on the job
// page's speakers section, or uploaded here as recordings.

import { useEffect, useState } from "preact/hooks";
import { atLeast, useAuth } from "../auth";
import { ErrorNote, Loading, PageTitle, useLoad } from "../ui/common";
import { SpeakerItem } from "../ui/SpeakerItem";
import { createSpeaker, listSpeakers, type Speaker } from "../ui/speakers";
import { AdminsOnly, inputValue, useAction } from "./settings/parts";
import "./admin.css";

export function SpeakersPage() {
  const { me } = useAuth();
  const canWrite = atLeast(me, "member");
  const [typed, setTyped] = useState("");
  const [q, setQ] = useState("");
  // The list follows the search box a moment after typing stops.
  useEffect(() => {
    const t = setTimeout(() => setQ(typed.trim()), 250);
    return () => clearTimeout(t);
  }, [typed]);
  const speakers = useLoad(() => listSpeakers(q), [q]);
  // Everyone, for the merge choices, whatever the search shows.
  const everyone = useLoad(() => listSpeakers(), []);

  const changed = (s: Speaker) => {
    speakers.set((old) => old?.map((x) => (x.id === s.id ? s : x)));
    everyone.set((old) => old?.map((x) => (x.id === s.id ? s : x)));
  };
  const removed = (id: string) => {
    speakers.set((old) => old?.filter((x) => x.id !== id));
    everyone.set((old) => old?.filter((x) => x.id !== id));
  };

  return (
    <>
      <PageTitle title="Speakers">Speakers</PageTitle>
      <p class="muted">
        The people whose voices Cutroom recognises in your jobs. A speaker is recognised once a sample of their
        voice is enrolled: on a job's page, in its Speakers section, pick the voice and enrol it; or upload a
        recording of them speaking alone here.
      </p>
      {canWrite ? (
        <NewSpeaker
          onCreated={(s) => {
            setTyped("");
            setQ("");
            speakers.reload();
            everyone.set((old) => old && [...old, s]);
          }}
        />
      ) : (
        <AdminsOnly>Viewers can see the library; members and up add, change and remove speakers.</AdminsOnly>
      )}
      <section aria-labelledby="speaker-list">
        <h2 id="speaker-list">Library</h2>
        <form class="inline filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <label>
            Search by name
            <input type="search" value={typed} maxLength={200} onInput={(e) => setTyped(inputValue(e))} />
          </label>
        </form>
        <ErrorNote error={speakers.error} />
        {speakers.loading && !speakers.data && <Loading what="speakers" />}
        {speakers.data && speakers.data.length === 0 && (
          <p class="muted">{q ? `No speaker's name holds “${q}”.` : "No speakers yet."}</p>
        )}
        {speakers.data && speakers.data.length > 0 && (
          <ul class="speakers">
            {speakers.data.map((s) => (
              <SpeakerItem
                key={s.id}
                speaker={s}
                others={(everyone.data ?? []).filter((o) => o.id !== s.id)}
                canWrite={canWrite}
                onChange={changed}
                onRemove={() => removed(s.id)}
                onMerged={removed}
              />
            ))}
          </ul>
        )}
      </section>
    </>
  );
}

function NewSpeaker({ onCreated }: { onCreated: (s: Speaker) => void }) {
  const [name, setName] = useState("");
  const [externalId, setExternalId] = useState("");
  const [consent, setConsent] = useState(false);
  const [made, setMade] = useState<string | null>(null);
  const send = useAction();
  return (
    <section aria-labelledby="new-speaker-h" class="card">
      <h2 id="new-speaker-h">Add a speaker</h2>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setMade(null);
          void send.run(async () => {
            const s = await createSpeaker(name, externalId, consent);
            setName("");
            setExternalId("");
            setConsent(false);
            setMade(s.name);
            onCreated(s);
          });
        }}
      >
        <label>
          Name
          <input required maxLength={200} value={name} onInput={(e) => setName(inputValue(e))} />
        </label>
        <label>
          External id <span class="hint">(optional: your own id for them)</span>
          <input maxLength={200} value={externalId} onInput={(e) => setExternalId(inputValue(e))} />
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={consent}
            onChange={(e) => setConsent((e.target as HTMLInputElement).checked)}
          />
          They agreed to their voice being kept and recognised
        </label>
        <button type="submit" disabled={send.busy}>
          {send.busy ? "Adding…" : "Add speaker"}
        </button>
        <ErrorNote error={send.error} />
        <p class="ok small" role="status">
          {made && `Added ${made}.`}
        </p>
      </form>
    </section>
  );
}

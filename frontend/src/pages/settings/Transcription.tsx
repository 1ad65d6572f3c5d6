// The tenant's default transcription model, for jobs that name none.
// Everyone reads it; admins and owners change it.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { AdminsOnly, inputValue, useAction } from "./parts";

/** `WHISPER_MODELS` in core/src/jobs.rs: the API refuses any other name. */
const MODELS = [
  { id: "tiny.en", name: "tiny.en: fastest, English only" },
  { id: "base", name: "base: slower, more accurate, many languages" },
];

export function TranscriptionTab() {
  const { me } = useAuth();
  const canEdit = atLeast(me, "admin");
  const settings = useLoad(async () => must(await api.GET("/v1/tenant/settings")), []);
  return (
    <section class="panel" aria-labelledby="transcription-h">
      <h2 id="transcription-h">Transcription</h2>
      <p class="muted">
        The Whisper model of jobs that do not choose one. Jobs already queued keep the model they were submitted
        with.
      </p>
      {!canEdit && <AdminsOnly>Only admins and owners can change the default model; you can read it.</AdminsOnly>}
      <ErrorNote error={settings.error} />
      {settings.loading && !settings.data && <Loading what="the settings" />}
      {settings.data && <ModelForm initial={settings.data.transcription.model} canEdit={canEdit} />}
    </section>
  );
}

function ModelForm({ initial, canEdit }: { initial: string | null; canEdit: boolean }) {
  // "" stands for "no tenant choice": the server's default applies.
  const [model, setModel] = useState(initial ?? "");
  const [saved, setSaved] = useState<string | null>(null);
  const save = useAction();
  return (
    <form
      class="inline"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(null);
        void save.run(async () => {
          // A merge patch: `null` goes back to the server's default.
          const body = { transcription: { model: model || null } } as unknown as Schemas["TenantSettings"];
          const next = must(await api.PATCH("/v1/tenant/settings", { body }));
          setModel(next.transcription.model ?? "");
          const chosen = next.transcription.model;
          setSaved(chosen ? `Saved: new jobs use ${chosen}.` : "Saved: new jobs use the server’s default.");
        });
      }}
    >
      <label>
        Default model
        <select
          value={model}
          disabled={!canEdit}
          onChange={(e) => {
            setSaved(null);
            setModel(inputValue(e));
          }}
        >
          <option value="">the server’s default</option>
          {MODELS.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      {canEdit && (
        <button type="submit" disabled={save.busy}>
          {save.busy ? "Saving…" : "Save model"}
        </button>
      )}
      <p role="status">{saved ?? ""}</p>
      <ErrorNote error={save.error} />
    </form>
  );
}

// How the tenant's jobs that choose nothing are transcribed: the Whisper
// model, the engine and the router's tier; and the cloud speech engines
// with their keys (SpeechEngines.tsx). Everyone reads them; admins and
// owners change them.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { Link } from "../../router";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { ENGINE_CHOICES, TIERS, type EngineChoice, type Tier } from "../../ui/engines";
import { AdminsOnly, inputValue, useAction } from "./parts";
import { SpeechEngines } from "./SpeechEngines";

/** `WHISPER_MODELS` in core/src/jobs.rs: the API refuses any other name. */
const MODELS = [
  { id: "tiny.en", name: "tiny.en: fastest, English only" },
  { id: "base", name: "base: slower, more accurate, many languages" },
];

type Settings = Schemas["TenantSettings"];

const noAuto = (e: EngineChoice | null): EngineChoice | "" => (e === "auto" ? "" : (e ?? ""));
const noBalanced = (t: Tier | null): Tier | "" => (t === "balanced" ? "" : (t ?? ""));

export function TranscriptionTab() {
  const { me } = useAuth();
  const canEdit = atLeast(me, "admin");
  const settings = useLoad(async () => must(await api.GET("/v1/tenant/settings")), []);
  const s = settings.data;
  return (
    <section class="panel" aria-labelledby="transcription-h">
      <h2 id="transcription-h">Transcription</h2>
      <p class="muted">
        How jobs that do not choose are transcribed. Jobs already queued keep the choices they were submitted with.
      </p>
      {!canEdit && <AdminsOnly>Only admins and owners can change these settings; you can read them.</AdminsOnly>}
      <ErrorNote error={settings.error} />
      {settings.loading && !s && <Loading what="the settings" />}
      {s && (
        <>
          <DefaultsForm initial={s.transcription} canEdit={canEdit} />
          <SpeechEngines
            cloud={s.transcription.cloud}
            canEdit={canEdit}
            onSaved={(next) => settings.set(() => next)}
          />
          <p class="muted small">
            What the engines may cost in a month is capped by the budget in{" "}
            <Link href="/settings/usage">Usage</Link>.
          </p>
        </>
      )}
    </section>
  );
}

function DefaultsForm({ initial, canEdit }: { initial: Settings["transcription"]; canEdit: boolean }) {
  // "" stands for "no tenant choice": the server's default applies.
  const [model, setModel] = useState(initial.model ?? "");
  // `auto` and `balanced` are what "no choice" means: shown as that.
  const [engine, setEngine] = useState(noAuto(initial.engine));
  const [tier, setTier] = useState(noBalanced(initial.tier));
  const [saved, setSaved] = useState<string | null>(null);
  const save = useAction();
  const changed = (set: (v: string) => void) => (e: Event) => {
    setSaved(null);
    set(inputValue(e));
  };
  return (
    <form
      class="inline"
      aria-label="Defaults"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(null);
        void save.run(async () => {
          // A merge patch: `null` goes back to the server's default.
          const transcription = { model: model || null, engine: engine || null, tier: tier || null };
          const body = { transcription } as unknown as Settings;
          const next = must(await api.PATCH("/v1/tenant/settings", { body })).transcription;
          setModel(next.model ?? "");
          setEngine(noAuto(next.engine));
          setTier(noBalanced(next.tier));
          const engineText = next.engine && next.engine !== "auto" ? `the ${next.engine} engine` : "the router’s choice";
          setSaved(
            `Saved: new jobs use ${next.model ?? "the server’s default model"}, ${engineText}, ` +
              `the ${next.tier ?? "balanced"} tier.`,
          );
        });
      }}
    >
      <label>
        Default model
        <select value={model} disabled={!canEdit} onChange={changed(setModel)}>
          <option value="">the server’s default</option>
          {MODELS.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Default engine
        <select value={engine} disabled={!canEdit} onChange={changed((v) => setEngine(v as EngineChoice | ""))}>
          <option value="">automatic (the default)</option>
          {ENGINE_CHOICES.filter((c) => c.id !== "auto").map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Default tier
        <select value={tier} disabled={!canEdit} onChange={changed((v) => setTier(v as Tier | ""))}>
          <option value="">balanced (the default)</option>
          {TIERS.filter((t) => t.id !== "balanced").map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
      {canEdit && (
        <button type="submit" disabled={save.busy}>
          {save.busy ? "Saving…" : "Save defaults"}
        </button>
      )}
      <p role="status">{saved ?? ""}</p>
      <ErrorNote error={save.error} />
    </form>
  );
}

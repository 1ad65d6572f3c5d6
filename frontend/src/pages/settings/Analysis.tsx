// How the tenant's jobs that choose nothing are analysed: the provider
// that writes their chapters, summary and highlights, the LLM endpoints
// with their keys (LlmEndpoints.tsx), and how much of a transcript one
// request carries. Everyone reads them; admins and owners change them.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { Link } from "../../router";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { choiceText, LLM_PROVIDERS, PROVIDER_CHOICES, PROVIDER_NAMES, type Provider } from "../../ui/providers";
import { draftOf, EndpointFields, endpointPatch, numText, type EndpointDraft } from "./LlmEndpoints";
import { AdminsOnly, inputValue, useAction } from "./parts";

type Settings = Schemas["TenantSettings"];
type AnalysisSettings = Settings["analysis"];

/** What each provider needs, said under the select. */
const NEEDS: Record<Provider, string> = {
  builtin: "Works everywhere, at no cost; the default.",
  local:
    "Needs the language model the operator runs beside the workers; where none runs, jobs get built-in’s " +
    "analysis and say why.",
  gemini: "Needs the Gemini API key below.",
  openai: "Needs the OpenAI-compatible endpoint’s base URL and model below.",
  auto:
    "Fast tier: built-in. Balanced: the local model, else the cheapest endpoint below that the budget allows. " +
    "Accurate: the cheapest endpoint the budget allows, else the local model. The job’s tier is the one " +
    "chosen for its transcription.",
};

const num = (s: string) => (s.trim() === "" ? null : Number(s));

export function AnalysisTab() {
  const { me } = useAuth();
  const canEdit = atLeast(me, "admin");
  const settings = useLoad(async () => must(await api.GET("/v1/tenant/settings")), []);
  const s = settings.data;
  return (
    <section class="panel" aria-labelledby="analysis-h">
      <h2 id="analysis-h">Analysis</h2>
      <p class="muted">
        Who writes the chapters, summary and highlights of jobs that do not choose. Jobs already queued keep the
        provider they were submitted with. A provider that fails hands the job to built-in, and the job says why.
      </p>
      {!canEdit && <AdminsOnly>Only admins and owners can change these settings; you can read them.</AdminsOnly>}
      <ErrorNote error={settings.error} />
      {settings.loading && !s && <Loading what="the settings" />}
      {s && (
        <>
          <AnalysisForm stored={s.analysis} canEdit={canEdit} onSaved={(next) => settings.set(() => next)} />
          <p class="muted small">
            Custom <Link href="/settings/moderation">moderation</Link> policies are judged by the job’s analysis
            provider. What the endpoints may cost in a month is capped by the budget in{" "}
            <Link href="/settings/usage">Usage</Link>.
          </p>
        </>
      )}
    </section>
  );
}

interface FormProps {
  stored: AnalysisSettings;
  canEdit: boolean;
  onSaved: (next: Settings) => void;
}

function AnalysisForm({ stored, canEdit, onSaved }: FormProps) {
  // Unset means built-in: shown as that, and saved as unset.
  const [provider, setProvider] = useState<Provider>(stored.provider ?? "builtin");
  const [maxInFlight, setMaxInFlight] = useState(numText(stored.max_in_flight));
  const [chunkSeconds, setChunkSeconds] = useState(numText(stored.chunk_seconds));
  const [drafts, setDrafts] = useState(() => ({ gemini: draftOf(stored.gemini), openai: draftOf(stored.openai) }));
  const [saved, setSaved] = useState<string | null>(null);
  const save = useAction();
  const changed = (set: (v: string) => void) => (e: Event) => {
    setSaved(null);
    set(inputValue(e));
  };

  const submit = (e: Event) => {
    e.preventDefault();
    setSaved(null);
    void save.run(async () => {
      // A merge patch of `analysis` alone: `null` goes back to the server's default.
      const analysis = {
        provider: provider === "builtin" ? null : provider,
        max_in_flight: num(maxInFlight),
        chunk_seconds: num(chunkSeconds),
        gemini: endpointPatch("gemini", drafts.gemini, stored.gemini),
        openai: endpointPatch("openai", drafts.openai, stored.openai),
      };
      const body = { analysis } as unknown as Settings;
      const next = must(await api.PATCH("/v1/tenant/settings", { body }));
      const now = next.analysis;
      setProvider(now.provider ?? "builtin");
      setMaxInFlight(numText(now.max_in_flight));
      setChunkSeconds(numText(now.chunk_seconds));
      setDrafts({ gemini: draftOf(now.gemini), openai: draftOf(now.openai) });
      onSaved(next);
      const keys = LLM_PROVIDERS.map((p) => {
        const hint = now[p].api_key_hint;
        return `${PROVIDER_NAMES[p]} ${hint ? `has the key ending ${hint}` : "has no API key"}`;
      });
      const chosen = now.provider ?? "builtin";
      const by = chosen === "auto" ? "the router’s choice of provider" : `the ${PROVIDER_NAMES[chosen]} provider`;
      setSaved(`Saved: jobs that choose no provider get ${by}. ${keys.join("; ")}.`);
    });
  };

  return (
    <form aria-label="Analysis settings" data-testid="analysis-settings" onSubmit={submit}>
      <label>
        Default provider
        <select
          value={provider}
          disabled={!canEdit}
          data-testid="analysis-provider"
          aria-describedby="analysis-provider-needs"
          onChange={changed((v) => setProvider(v as Provider))}
        >
          {PROVIDER_CHOICES.map((c) => (
            <option key={c.id} value={c.id}>
              {choiceText(c)}
            </option>
          ))}
        </select>
      </label>
      <p id="analysis-provider-needs" class="muted small">
        {NEEDS[provider]}
      </p>
      {LLM_PROVIDERS.map((p) => (
        <EndpointFields
          key={p}
          provider={p}
          draft={drafts[p]}
          stored={stored[p]}
          canEdit={canEdit}
          onChange={(d: EndpointDraft) => {
            setSaved(null);
            setDrafts((all) => ({ ...all, [p]: d }));
          }}
        />
      ))}
      <fieldset>
        <legend>Requests</legend>
        <div class="engine-fields">
          <label>
            Most in flight <span class="hint">(per job, 1-16; empty: 4)</span>
            <input
              type="number"
              min={1}
              max={16}
              step={1}
              value={maxInFlight}
              disabled={!canEdit}
              onInput={changed(setMaxInFlight)}
            />
          </label>
          <label>
            Transcript per request <span class="hint">(seconds, 120-3600; empty: 600)</span>
            <input
              type="number"
              min={120}
              max={3600}
              step={1}
              value={chunkSeconds}
              disabled={!canEdit}
              onInput={changed(setChunkSeconds)}
            />
          </label>
        </div>
        <p class="muted small">Longer transcripts are sent in pieces of this length that overlap by a tenth.</p>
      </fieldset>
      {canEdit && (
        <div class="actions">
          <button type="submit" disabled={save.busy}>
            {save.busy ? "Saving…" : "Save analysis settings"}
          </button>
        </div>
      )}
      <p role="status">{saved ?? ""}</p>
      <ErrorNote error={save.error} />
    </form>
  );
}

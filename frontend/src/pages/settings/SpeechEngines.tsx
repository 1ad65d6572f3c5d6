// The cloud speech engines of the Transcription tab: one form per engine
// with its address, model, API key, price and timeout. Keys are
// write-only: the API shows their last four characters, a key typed here
// replaces the stored one, and an empty field keeps it. A stored key is
// never sent to a new address, so changing the base URL asks for the key
// again (the API refuses it otherwise: `api_key_required`).

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { usd } from "../../format";
import { ErrorNote } from "../../ui/common";
import { CLOUD_ENGINES, ENGINE_NAMES, type CloudEngine } from "../../ui/engines";
import { inputValue, useAction } from "./parts";

type Settings = Schemas["TenantSettings"];
type Endpoint = Schemas["SpeechEndpoint"];

/** `default_base_url`, `default_model` and `list_price` in core/src/speech.rs. */
const DEFAULTS: Record<CloudEngine, { url: string; model: string; price: number; about: string }> = {
  deepgram: { url: "https://api.deepgram.com", model: "nova-3", price: 0.0043, about: "Deepgram’s speech-to-text API." },
  assemblyai: {
    url: "https://api.assemblyai.com",
    model: "universal",
    price: 0.0025,
    about: "AssemblyAI’s speech-to-text API.",
  },
  openai: {
    url: "https://api.openai.com",
    model: "whisper-1",
    price: 0.006,
    about: "OpenAI’s transcriptions API, or any compatible one (Groq, a local server) at its base URL.",
  },
};

/** Where requests go, as the API compares addresses (`destination` in core/src/speech.rs). */
const destination = (engine: CloudEngine, url: string | null | undefined) =>
  (url?.trim() || DEFAULTS[engine].url).trim().replace(/\/+$/, "").toLowerCase();

export function SpeechEngines({
  cloud,
  canEdit,
  onSaved,
}: {
  cloud: Settings["transcription"]["cloud"];
  canEdit: boolean;
  onSaved: (next: Settings) => void;
}) {
  return (
    <section aria-labelledby="speech-engines-h">
      <h3 id="speech-engines-h">Cloud speech engines</h3>
      <p class="muted">
        An engine is used once it has an API key: when a job asks for it, or when the router picks it for the
        tier. An engine that fails hands the job over to the next one. Prices are US dollars per minute of audio
        sent; left empty, the model’s list price counts.
      </p>
      {CLOUD_ENGINES.map((engine) => (
        <EngineForm key={engine} engine={engine} endpoint={cloud[engine]} canEdit={canEdit} onSaved={onSaved} />
      ))}
    </section>
  );
}

interface FormProps {
  engine: CloudEngine;
  endpoint: Endpoint;
  canEdit: boolean;
  onSaved: (next: Settings) => void;
}

function EngineForm({ engine, endpoint, canEdit, onSaved }: FormProps) {
  const d = DEFAULTS[engine];
  const [baseUrl, setBaseUrl] = useState(endpoint.base_url ?? "");
  const [model, setModel] = useState(endpoint.model ?? "");
  const [key, setKey] = useState("");
  const [removeKey, setRemoveKey] = useState(false);
  const [price, setPrice] = useState(numText(endpoint.price_per_minute));
  const [timeout, setTimeoutText] = useState(numText(endpoint.timeout_seconds));
  const [saved, setSaved] = useState<string | null>(null);
  const save = useAction();
  const hint = endpoint.api_key_hint;
  const moved = destination(engine, baseUrl) !== destination(engine, endpoint.base_url);
  // A stored key kept for a new address: the API refuses that.
  const keyAgain = moved && !!hint && !removeKey;
  const id = (f: string) => `${engine}-${f}`;
  const edit = (set: (v: string) => void) => (e: Event) => {
    setSaved(null);
    set(inputValue(e));
  };

  const submit = (e: Event) => {
    e.preventDefault();
    setSaved(null);
    void save.run(async () => {
      if (keyAgain && !key.trim())
        throw new Error(
          `The base URL changed: enter the ${ENGINE_NAMES[engine]} API key again, or remove it. ` +
            "A stored key is never sent to a new address.",
        );
      const endpointPatch: Record<string, unknown> = {
        base_url: baseUrl.trim() || null,
        model: model.trim() || null,
        price_per_minute: price.trim() === "" ? null : Number(price),
        timeout_seconds: timeout.trim() === "" ? null : Number(timeout),
      };
      // Left out, the stored key stays; a string replaces it; null removes it.
      if (key.trim()) endpointPatch.api_key = key.trim();
      else if (removeKey) endpointPatch.api_key = null;
      const body = { transcription: { cloud: { [engine]: endpointPatch } } } as unknown as Settings;
      const next = must(await api.PATCH("/v1/tenant/settings", { body }));
      const now = next.transcription.cloud[engine];
      setBaseUrl(now.base_url ?? "");
      setModel(now.model ?? "");
      setPrice(numText(now.price_per_minute));
      setTimeoutText(numText(now.timeout_seconds));
      setKey("");
      setRemoveKey(false);
      onSaved(next);
      setSaved(
        now.api_key_hint
          ? `Saved: ${ENGINE_NAMES[engine]} is set up with the key ending ${now.api_key_hint}.`
          : `Saved: ${ENGINE_NAMES[engine]} has no API key, so no job uses it.`,
      );
    });
  };

  return (
    <form class="card engine" aria-labelledby={id("h")} data-testid={`speech-engine-${engine}`} onSubmit={submit}>
      <div class="row">
        <h4 id={id("h")}>{ENGINE_NAMES[engine]}</h4>
        <span class={`badge ${hint ? "status-ready" : "status-disabled"}`}>
          {hint ? `key ${hint}` : "no key: not used"}
        </span>
      </div>
      <p class="muted small">{d.about}</p>
      <div class="engine-fields">
        <label>
          Base URL <span class="hint">(empty: the provider’s own)</span>
          <input
            type="url"
            value={baseUrl}
            placeholder={d.url}
            disabled={!canEdit}
            onInput={edit(setBaseUrl)}
          />
        </label>
        <label>
          Model <span class="hint">(empty: {d.model})</span>
          <input value={model} placeholder={d.model} maxLength={128} disabled={!canEdit} onInput={edit(setModel)} />
        </label>
        <label>
          Price per minute <span class="hint">(USD; empty: the list price{model ? "" : `, ${usd(d.price)}`})</span>
          <input
            type="number"
            min={0}
            step="any"
            value={price}
            disabled={!canEdit}
            onInput={edit(setPrice)}
          />
        </label>
        <label>
          Timeout <span class="hint">(seconds, 5-3600; empty: 600)</span>
          <input
            type="number"
            min={5}
            max={3600}
            step={1}
            value={timeout}
            disabled={!canEdit}
            onInput={edit(setTimeoutText)}
          />
        </label>
        {canEdit && (
          <label>
            API key{" "}
            <span class="hint">
              {keyAgain
                ? "(the base URL changed: enter it again)"
                : hint
                  ? `(stored, ending ${hint}; empty keeps it)`
                  : "(none stored)"}
            </span>
            <input
              type="password"
              autoComplete="new-password"
              spellcheck={false}
              value={key}
              required={keyAgain}
              disabled={removeKey}
              aria-describedby={id("key-note")}
              onInput={edit(setKey)}
            />
          </label>
        )}
      </div>
      <p id={id("key-note")} class="muted small">
        {canEdit
          ? "The key is stored encrypted and never shown again; only its last four characters are."
          : hint
            ? `A key ending ${hint} is stored.`
            : "No API key is stored: jobs do not use this engine."}
      </p>
      {canEdit && (
        <div class="actions">
          {hint && (
            <label class="check">
              <input
                type="checkbox"
                checked={removeKey}
                onChange={(e) => {
                  setSaved(null);
                  setRemoveKey((e.target as HTMLInputElement).checked);
                  setKey("");
                }}
              />
              Remove the stored key
            </label>
          )}
          <button type="submit" disabled={save.busy}>
            {save.busy ? "Saving…" : `Save ${ENGINE_NAMES[engine]}`}
          </button>
        </div>
      )}
      <p role="status">{saved ?? ""}</p>
      <ErrorNote error={save.error} />
    </form>
  );
}

const numText = (n: number | null | undefined) => (n == null ? "" : String(n));

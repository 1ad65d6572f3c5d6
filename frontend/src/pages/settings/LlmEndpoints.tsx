// The LLM endpoints of the Analysis tab: one fieldset per provider with
// its address, model, API key, prices and timeout, and the piece of the
// settings patch each one makes. Keys are write-only: the API shows their
// last four characters, a key typed here replaces the stored one, and an
// empty field keeps it. A stored key is never sent to a new address, so
// changing the base URL asks for the key again (the API refuses it
// otherwise: `api_key_required`).

import type { Schemas } from "../../api/client";
import { PROVIDER_NAMES, type LlmProvider } from "../../ui/providers";
import { inputValue } from "./parts";

type Endpoint = Schemas["LlmEndpoint"];

/** `GEMINI_BASE_URL`, `GEMINI_MODEL` and `TenantAnalysisSettings` in core/src/analysis.rs. */
const DEFAULTS: Record<LlmProvider, { url: string | null; model: string | null; about: string }> = {
  gemini: {
    url: "https://generativelanguage.googleapis.com",
    model: "gemini-2.5-flash",
    about: "Google’s Generative Language API. Used once it has an API key.",
  },
  openai: {
    url: null,
    model: null,
    about:
      "Any OpenAI-compatible chat completions endpoint: OpenAI, vLLM, Ollama, llama.cpp’s llama-server. " +
      "Used once it has a base URL (without /v1) and a model; the key only if the endpoint wants one.",
  },
};

/** An endpoint as its fields hold it: text as typed, the key only when typed. */
export interface EndpointDraft {
  baseUrl: string;
  model: string;
  key: string;
  removeKey: boolean;
  inputPrice: string;
  outputPrice: string;
  timeout: string;
}

export const numText = (n: number | null | undefined) => (n == null ? "" : String(n));
const num = (s: string) => (s.trim() === "" ? null : Number(s));

export const draftOf = (e: Endpoint): EndpointDraft => ({
  baseUrl: e.base_url ?? "",
  model: e.model ?? "",
  key: "",
  removeKey: false,
  inputPrice: numText(e.input_price),
  outputPrice: numText(e.output_price),
  timeout: numText(e.timeout_seconds),
});

/** Where requests go, as the API compares addresses (`effective_url` in core/src/analysis.rs). */
const destination = (p: LlmProvider, url: string | null | undefined) =>
  (url?.trim() || DEFAULTS[p].url || "").trim().replace(/\/+$/, "").toLowerCase();

/** Whether the draft keeps a stored key for a new address: the API refuses that. */
export const keyAgain = (p: LlmProvider, d: EndpointDraft, stored: Endpoint) =>
  destination(p, d.baseUrl) !== destination(p, stored.base_url) && !!stored.api_key_hint && !d.removeKey;

/** Whether jobs can use the stored endpoint (`unusable` in core/src/analysis.rs). */
export const usable = (p: LlmProvider, e: Endpoint) =>
  p === "gemini" ? !!e.api_key_hint : !!e.base_url && !!e.model;

/** `analysis.<provider>` of the settings patch; throws when the key must be typed again. */
export function endpointPatch(p: LlmProvider, d: EndpointDraft, stored: Endpoint): Record<string, unknown> {
  if (keyAgain(p, d, stored) && !d.key.trim())
    throw new Error(
      `The ${PROVIDER_NAMES[p]} base URL changed: enter its API key again, or remove it. ` +
        "A stored key is never sent to a new address.",
    );
  const patch: Record<string, unknown> = {
    base_url: d.baseUrl.trim() || null,
    model: d.model.trim() || null,
    input_price: num(d.inputPrice),
    output_price: num(d.outputPrice),
    timeout_seconds: num(d.timeout),
  };
  // Left out, the stored key stays; a string replaces it; null removes it.
  if (d.key.trim()) patch.api_key = d.key.trim();
  else if (d.removeKey) patch.api_key = null;
  return patch;
}

interface Props {
  provider: LlmProvider;
  draft: EndpointDraft;
  stored: Endpoint;
  canEdit: boolean;
  onChange: (d: EndpointDraft) => void;
}

export function EndpointFields({ provider: p, draft: d, stored, canEdit, onChange }: Props) {
  const def = DEFAULTS[p];
  const hint = stored.api_key_hint;
  const again = keyAgain(p, d, stored);
  const ready = usable(p, stored);
  const id = (f: string) => `llm-${p}-${f}`;
  const edit = (field: keyof EndpointDraft) => (e: Event) => onChange({ ...d, [field]: inputValue(e) });
  return (
    <fieldset class="engine" data-testid={`llm-endpoint-${p}`} aria-describedby={id("about")}>
      <legend>
        {PROVIDER_NAMES[p]}{" "}
        <span class={`badge ${ready ? "status-ready" : "status-disabled"}`}>
          {ready ? (hint ? `set up, key ${hint}` : "set up, no key") : "not set up"}
        </span>
      </legend>
      <p id={id("about")} class="muted small">
        {def.about}
      </p>
      <div class="engine-fields">
        <label>
          Base URL <span class="hint">{def.url ? "(empty: Google’s own)" : "(without /v1)"}</span>
          <input
            type="url"
            value={d.baseUrl}
            placeholder={def.url ?? "http://llama:8080"}
            disabled={!canEdit}
            onInput={edit("baseUrl")}
          />
        </label>
        <label>
          Model {def.model && <span class="hint">(empty: {def.model})</span>}
          <input
            value={d.model}
            placeholder={def.model ?? "qwen2.5:7b"}
            maxLength={200}
            spellcheck={false}
            disabled={!canEdit}
            onInput={edit("model")}
          />
        </label>
        <label>
          Input price <span class="hint">(USD per million prompt tokens; empty: cost not counted)</span>
          <input
            type="number"
            min={0}
            max={10000}
            step="any"
            value={d.inputPrice}
            disabled={!canEdit}
            onInput={edit("inputPrice")}
          />
        </label>
        <label>
          Output price <span class="hint">(USD per million completion tokens)</span>
          <input
            type="number"
            min={0}
            max={10000}
            step="any"
            value={d.outputPrice}
            disabled={!canEdit}
            onInput={edit("outputPrice")}
          />
        </label>
        <label>
          Timeout <span class="hint">(seconds per request, 5-600; empty: 60)</span>
          <input
            type="number"
            min={5}
            max={600}
            step={1}
            value={d.timeout}
            disabled={!canEdit}
            onInput={edit("timeout")}
          />
        </label>
        {canEdit && (
          <label>
            API key{" "}
            <span class="hint">
              {again
                ? "(the base URL changed: enter it again)"
                : hint
                  ? `(stored, ending ${hint}; empty keeps it)`
                  : "(none stored)"}
            </span>
            <input
              type="password"
              autoComplete="new-password"
              spellcheck={false}
              value={d.key}
              required={again}
              disabled={d.removeKey}
              aria-describedby={id("key-note")}
              onInput={edit("key")}
            />
          </label>
        )}
      </div>
      <p id={id("key-note")} class="muted small">
        {canEdit
          ? "The key is stored encrypted and never shown again; only its last four characters are."
          : hint
            ? `A key ending ${hint} is stored.`
            : "No API key is stored."}
      </p>
      {canEdit && hint && (
        <label class="check">
          <input
            type="checkbox"
            checked={d.removeKey}
            onChange={(e) => onChange({ ...d, key: "", removeKey: (e.target as HTMLInputElement).checked })}
          />
          Remove the stored {PROVIDER_NAMES[p]} key
        </label>
      )}
    </fieldset>
  );
}

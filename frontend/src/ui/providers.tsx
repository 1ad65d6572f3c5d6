// The content analysis's words: its providers (who writes a job's
// chapters, summary and highlights), as people read them; and the
// provider choice of the new-job forms.

import type { Schemas } from "../api/client";

export type Provider = Schemas["Provider"];

/** The endpoints a tenant sets up, in the order the settings list them. */
export const LLM_PROVIDERS = ["gemini", "openai"] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

export const PROVIDER_NAMES: Record<Provider, string> = {
  builtin: "Built-in",
  local: "Local model",
  gemini: "Gemini",
  openai: "OpenAI-compatible",
  auto: "Automatic",
};

/** A provider's name, or the word itself for one this app does not know yet. */
export const providerName = (p: string) => PROVIDER_NAMES[p as Provider] ?? p;

/** Every provider with what it does, in a line; `Provider` in core/src/analysis.rs. */
export const PROVIDER_CHOICES: { id: Provider; about: string }[] = [
  { id: "builtin", about: "no language model: chapters, summary and highlights from the transcript itself" },
  {
    id: "local",
    about: "built-in’s chapters and highlights, titled and summarised by the small model beside the workers",
  },
  { id: "gemini", about: "Google’s Gemini, with the organisation’s API key" },
  { id: "openai", about: "the organisation’s OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama-server)" },
  { id: "auto", about: "the router chooses by the job’s tier, what is set up and the budget" },
];

/** `Built-in: no language model…`: a provider as a select's option reads. */
export const choiceText = (c: { id: Provider; about: string }) => `${PROVIDER_NAMES[c.id]}: ${c.about}`;

/** `options.analysis` of a new job, or nothing when it keeps the default (""). */
export function analysisOptions(p: Provider | ""): { provider: Provider } | undefined {
  return p ? { provider: p } : undefined;
}

/** The analysis provider select of a new-job form; "" keeps the organisation's default. */
export function ProviderField({
  value,
  onChange,
  disabled,
}: {
  value: Provider | "";
  onChange: (v: Provider | "") => void;
  disabled?: boolean;
}) {
  return (
    <label>
      Analysis
      <select
        value={value}
        disabled={disabled}
        data-testid="job-analysis-provider"
        onChange={(e) => onChange((e.target as HTMLSelectElement).value as Provider | "")}
      >
        <option value="">the organisation’s default</option>
        {PROVIDER_CHOICES.map((c) => (
          <option key={c.id} value={c.id}>
            {choiceText(c)}
          </option>
        ))}
      </select>
    </label>
  );
}

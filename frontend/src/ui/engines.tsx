// The transcription router's words: its engines, tiers and the outcomes of
// an engine's attempt, as people read them; and the engine and tier
// choice of the new-job forms.

import type { Schemas } from "../api/client";

export type Engine = Schemas["Engine"];
export type EngineChoice = Schemas["EngineChoice"];
export type Tier = Schemas["Tier"];

/** The cloud engines, in the order the settings list them. */
export const CLOUD_ENGINES = ["deepgram", "assemblyai", "openai"] as const;
export type CloudEngine = (typeof CLOUD_ENGINES)[number];

export const ENGINE_NAMES: Record<Engine, string> = {
  local: "Local (whisper.cpp)",
  deepgram: "Deepgram",
  assemblyai: "AssemblyAI",
  openai: "OpenAI-compatible",
};

/** An engine's name, or the word itself for one this app does not know yet. */
export const engineName = (e: string) => ENGINE_NAMES[e as Engine] ?? e;

export const ENGINE_CHOICES: { id: EngineChoice; name: string }[] = [
  { id: "auto", name: "Automatic: the router chooses by tier, length and budget" },
  { id: "local", name: "Local: whisper.cpp on the workers" },
  { id: "deepgram", name: "Deepgram" },
  { id: "assemblyai", name: "AssemblyAI" },
  { id: "openai", name: "OpenAI-compatible" },
];

export const TIERS: { id: Tier; name: string }[] = [
  { id: "fast", name: "Fast: the cheapest engine" },
  { id: "balanced", name: "Balanced" },
  { id: "accurate", name: "Accurate: a cloud engine when one is set up and the budget allows" },
];

/** `outcome` of an attempt (`Attempt` in core/src/speech.rs), in words. */
const OUTCOMES: Record<string, string> = {
  ok: "transcribed",
  key_refused: "API key refused",
  quota: "quota or credit used up",
  too_large: "audio too large",
  rate_limited: "rate limited",
  server_error: "server error",
  refused: "request refused",
  timeout: "timed out",
  network: "could not be reached",
  malformed: "unreadable answer",
  refused_url: "address refused",
  failed: "failed",
};

export const outcomeName = (o: string) => OUTCOMES[o] ?? o.replace(/_/g, " ");

/** One engine tried, as the server records it. */
export type RouteAttempt = Schemas["EngineAttempt"];

/** Engine and tier of a new job; "" keeps the organisation's default. */
export interface EngineTier {
  engine: EngineChoice | "";
  tier: Tier | "";
}

export const NO_CHOICE: EngineTier = { engine: "", tier: "" };

/** `options.transcription` of a new job, or nothing when both keep the defaults. */
export function transcriptionOptions(c: EngineTier): { engine?: EngineChoice; tier?: Tier } | undefined {
  if (!c.engine && !c.tier) return undefined;
  return { ...(c.engine ? { engine: c.engine } : {}), ...(c.tier ? { tier: c.tier } : {}) };
}

/** The engine and tier selects of a new-job form. */
export function EngineTierFields({
  value,
  onChange,
  disabled,
}: {
  value: EngineTier;
  onChange: (v: EngineTier) => void;
  disabled?: boolean;
}) {
  const pick = (e: Event) => (e.target as HTMLSelectElement).value;
  return (
    <>
      <label>
        Transcription engine
        <select
          value={value.engine}
          disabled={disabled}
          onChange={(e) => onChange({ ...value, engine: pick(e) as EngineChoice | "" })}
        >
          <option value="">the organisation’s default</option>
          {ENGINE_CHOICES.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Tier
        <select
          value={value.tier}
          disabled={disabled}
          onChange={(e) => onChange({ ...value, tier: pick(e) as Tier | "" })}
        >
          <option value="">the organisation’s default</option>
          {TIERS.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

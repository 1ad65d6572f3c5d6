// What to do about a job's error code, or a refused submission's, where the
// message alone does not say: the budget, the quota and the cloud speech
// engines (`ErrorCode` in core/src/errors.rs).

import type { ComponentChildren } from "preact";
import { ApiError } from "../api/client";
import { Link } from "../router";
import { engineName } from "./engines";

const ToUsage = () => <Link href="/settings/usage">Settings › Usage</Link>;
const ToEngines = () => <Link href="/settings/transcription">Settings › Transcription</Link>;

const HELP: Record<string, () => ComponentChildren> = {
  budget_exceeded: () => (
    <>
      The organisation’s monthly budget is spent, and its settings stop jobs at the limit. It starts again on the
      first of the month (UTC); until then an admin can raise it, or let jobs go on with the cheapest engine, in{" "}
      <ToUsage />.
    </>
  ),
  quota_exceeded: () => (
    <>
      The organisation’s media minutes for this month are used up: see <ToUsage />.
    </>
  ),
  engine_key_refused: () => (
    <>
      The cloud speech engine the job asked for refused the organisation’s API key, so it was not tried again.
      An admin enters a new key in <ToEngines />; then retry the job, or submit it with another engine.
    </>
  ),
  engine_unavailable: () => (
    <>
      The cloud speech engine the job asked for could not be reached or kept failing after retries. This is
      usually temporary: retry the job later, or submit it with another engine.
    </>
  ),
  engine_refused: () => (
    <>
      The cloud speech engine the job asked for refused the audio or the account (quota or credit used up,
      audio too large, an answer that did not read). Check the account with the provider, or submit the job
      with another engine.
    </>
  ),
};

/** A line of help for a job's error code, or nothing for the codes whose message says enough. */
export function JobErrorHelp({ code }: { code: string }) {
  const help = HELP[code];
  return help ? <p class="small">{help()}</p> : null;
}

/** The same help under a refused submission (`429 budget_exceeded`, `quota_exceeded`). */
export function ProblemHint({ error }: { error: unknown }) {
  if (!(error instanceof ApiError)) return null;
  return <JobErrorHelp code={error.code} />;
}

/** The data of an `engine_key_refused` job event. */
export interface KeyRefused {
  engine: string;
  status?: number;
  message?: string;
}

/** Said on the job page as soon as the event comes, while the job goes on. */
export function KeyRefusedNote({ refused }: { refused: KeyRefused[] }) {
  if (refused.length === 0) return null;
  return (
    <div class="note" role="status">
      {refused.map((r, i) => (
        <p key={i}>
          <strong>{engineName(r.engine)} refused the API key</strong>
          {r.status ? ` (HTTP ${r.status})` : ""}. A job that asked for this engine fails; otherwise the router
          hands the job to another engine. An admin enters a new key in <ToEngines />.
        </p>
      ))}
    </div>
  );
}

// What a job cost (`GET /v1/jobs/{id}/cost`), in the API's own sentence,
// and how its transcript was made: the router's reason, the engines it
// weighed and set aside, every engine tried, and the estimate against the
// actual cost. Read once the job has ended or has a transcript.

import { Fragment } from "preact";
import { api, must, type Schemas } from "../api/client";
import { eta, usd } from "../format";
import { ErrorNote, useLoad } from "./common";
import { engineName, outcomeName, type RouteAttempt } from "./engines";

type RouteReport = Schemas["RouteReport"];

export function JobCost({
  jobId,
  ready,
  ended,
  gen,
}: {
  jobId: string;
  ready: boolean;
  /** Read again when the job ends: its last stages' costs arrive then. */
  ended: boolean;
  gen: number;
}) {
  const cost = useLoad(
    async () => (ready ? must(await api.GET("/v1/jobs/{id}/cost", { params: { path: { id: jobId } } })) : null),
    [jobId, ready, ended, gen],
  );
  const c = cost.data;
  if (!ready) return null;
  return (
    <section class="job-cost" aria-label="Cost">
      <ErrorNote error={cost.error} />
      {c && (
        <>
          <p class="cost-summary" data-testid="job-cost">
            {c.summary}
          </p>
          {c.transcription && <Route report={c.transcription} />}
          {c.stages.length > 1 && (
            <details class="cost-facts">
              <summary>Cost by stage</summary>
              <dl class="facts">
                {c.stages.map((s, i) => (
                  <Fragment key={i}>
                    <dt>
                      {s.stage}
                      {s.model && <span class="muted"> ({s.model})</span>}
                    </dt>
                    <dd>
                      {s.cost_usd == null ? "not recorded" : usd(s.cost_usd)}{" "}
                      <span class="muted small">for {seconds(s.media_seconds)} of media</span>
                    </dd>
                  </Fragment>
                ))}
              </dl>
            </details>
          )}
        </>
      )}
    </section>
  );
}

function Route({ report: r }: { report: RouteReport }) {
  const attempts: RouteAttempt[] = r.attempts;
  return (
    <details class="cost-facts route" data-testid="job-route">
      <summary>How it was transcribed</summary>
      <p class="reason">{r.reason}</p>
      <dl class="facts">
        <dt>Asked for</dt>
        <dd>
          {r.requested === "auto" ? "the router’s choice" : engineName(r.requested)}, {r.tier} tier
        </dd>
        <dt>Transcribed by</dt>
        <dd>
          {engineName(r.chosen)} <code>{r.model}</code>
        </dd>
        <dt>Speech</dt>
        <dd>{seconds(r.speech_seconds)}</dd>
        <dt>Cost</dt>
        <dd>
          {usd(r.actual_cost_usd)} <span class="muted">(estimated {usd(r.estimated_cost_usd)})</span>
        </dd>
        {r.budget_left_usd != null && (
          <>
            <dt>Budget left</dt>
            <dd>{usd(r.budget_left_usd)} when it was chosen</dd>
          </>
        )}
      </dl>
      {r.considered.length > 0 && (
        <>
          <h4>Engines considered</h4>
          <ul class="route-list">
            {r.considered.map((c) => (
              <li key={`${c.engine}:${c.model}`}>
                <strong>{engineName(c.engine)}</strong> <code>{c.model}</code>, about {usd(c.estimated_cost_usd)}:{" "}
                {c.set_aside ? <span>set aside ({c.set_aside})</span> : <span class="ok">first choice</span>}
              </li>
            ))}
          </ul>
        </>
      )}
      {attempts.length > 0 && (
        <>
          <h4>Attempts</h4>
          <ol class="route-list">
            {attempts.map((a, i) => (
              <li key={i} data-outcome={a.outcome}>
                <strong>{engineName(a.engine)}</strong> <code>{a.model}</code>:{" "}
                <span class={a.outcome === "ok" ? "ok" : "error"}>{outcomeName(a.outcome)}</span>
                <span class="muted small">
                  {" "}
                  ({seconds(a.seconds)}
                  {a.requests > 0 && `, ${a.requests} ${a.requests === 1 ? "request" : "requests"}`}, {usd(a.cost_usd)})
                </span>
                {a.error && <div class="small">{a.error}</div>}
              </li>
            ))}
          </ol>
        </>
      )}
    </details>
  );
}

/** `0.4 s`, `31 s`, `2 min 5 s`. */
const seconds = (s: number) => (s > 0 && s < 10 ? `${s.toFixed(1)} s` : eta(s));

// What the organisation processed in a month, what it cost, its quota and
// its budget. Everyone in the tenant may read it; admins and owners set the
// budget here.

import { useState } from "preact/hooks";
import { api, must } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { usd, when } from "../../format";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { BudgetForm, BudgetUse } from "./Budget";
import { inputValue } from "./parts";

const num = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const minutes = (m: number) => `${num.format(m)} min`;

/** `YYYY-MM` of today in UTC: the API counts months in UTC. */
const thisMonth = () => new Date().toISOString().slice(0, 7);

export function UsageTab() {
  const { me } = useAuth();
  const [month, setMonth] = useState(thisMonth);
  const usage = useLoad(async () => must(await api.GET("/v1/usage", { params: { query: { month } } })), [month]);
  const u = usage.data;
  const current = month === thisMonth();
  return (
    <section class="panel" aria-labelledby="usage-h">
      <div class="row">
        <h2 id="usage-h">Usage</h2>
        <label class="inline-label">
          Month
          <input
            type="month"
            value={month}
            max={thisMonth()}
            // Some browsers offer a cleared value; keep the last month then.
            onChange={(e) => inputValue(e) && setMonth(inputValue(e))}
          />
        </label>
      </div>
      <ErrorNote error={usage.error} />
      {usage.loading && <Loading what="usage" />}
      {u && (
        <>
          <dl class="facts">
            <dt>Media minutes</dt>
            <dd>{minutes(u.media_minutes)}</dd>
            <dt>Cost</dt>
            <dd data-testid="usage-cost">{usd(u.cost_usd)}</dd>
            <dt>Jobs</dt>
            <dd>{u.jobs}</dd>
            <dt>Period</dt>
            <dd>
              {when(u.from)} to {when(u.until)}
            </dd>
          </dl>

          <h3>Quota</h3>
          {u.quota ? (
            <div class="quota">
              <p>
                {minutes(u.quota.remaining_minutes)} left of {minutes(u.quota.media_minutes)} this month; the count
                starts again on {when(u.quota.resets_at)}.
              </p>
              <progress
                max={u.quota.media_minutes}
                value={u.quota.media_minutes - u.quota.remaining_minutes}
                aria-label="Quota used"
              />
            </div>
          ) : (
            <p class="muted">
              {current
                ? "No monthly limit applies to this organisation."
                : "The quota is shown for the current month only."}
            </p>
          )}

          <h3>Budget</h3>
          <BudgetUse budget={u.budget} current={current} />
          {atLeast(me, "admin") && <BudgetForm onSaved={usage.reload} />}

          <h3>By stage</h3>
          {u.stages.length === 0 ? (
            <p class="muted">Nothing was processed in this month.</p>
          ) : (
            <div class="table-wrap">
              <table class="stack">
                <thead>
                  <tr>
                    <th scope="col">Stage</th>
                    <th scope="col">Model</th>
                    <th scope="col">Minutes</th>
                    <th scope="col">Jobs</th>
                    <th scope="col">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {u.stages.map((s) => (
                    <tr key={`${s.stage}:${s.model ?? ""}`}>
                      <td data-label="Stage">{s.stage}</td>
                      <td data-label="Model">{s.model ? <code>{s.model}</code> : <span class="muted">—</span>}</td>
                      <td data-label="Minutes">{minutes(s.minutes)}</td>
                      <td data-label="Jobs">{s.jobs}</td>
                      <td data-label="Cost">{usd(s.cost_usd)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <p class="muted small">
            The quota counts media minutes: each job’s source length, once. The clips stage counts the minutes of
            clips rendered. Costs are US dollars: cloud engines at their prices, LLM tokens at the organisation’s, and
            the workers’ time at the operator’s rate.
          </p>
        </>
      )}
    </section>
  );
}

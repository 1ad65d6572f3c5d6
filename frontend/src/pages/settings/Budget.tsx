// The monthly budget on the Usage tab: what is left of it, and (for admins
// and owners) the form that sets it, `budget` of the tenant's settings.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { usd, when } from "../../format";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { inputValue, useAction } from "./parts";

type AtBudget = Schemas["AtBudget"];

export const AT_LIMIT: Record<AtBudget, string> = {
  cheapest: "jobs go on with the cheapest engine (the local one), so nothing more is spent on cloud engines",
  fail: "new jobs are refused and queued ones fail with budget_exceeded until the month ends",
  wait: "jobs wait in line until the month ends or the budget is raised (looked at again every hour)",
};

/** The month's budget and what is left of it (`null`: none). */
export function BudgetUse({ budget, current }: { budget: Schemas["BudgetUse"] | null | undefined; current: boolean }) {
  if (!budget)
    return (
      <p class="muted" data-testid="usage-budget">
        {current ? "No monthly budget: jobs may cost any amount." : "The budget is shown for the current month only."}
      </p>
    );
  const spent = Math.max(0, budget.monthly_usd - budget.remaining_usd);
  return (
    <div class="quota" data-testid="usage-budget">
      <p>
        {usd(budget.remaining_usd)} left of {usd(budget.monthly_usd)} this month; it starts again on{" "}
        {when(budget.resets_at)}. Once it is spent, {AT_LIMIT[budget.at_limit]}.
      </p>
      <progress max={budget.monthly_usd || 1} value={spent} aria-label="Budget used" />
    </div>
  );
}

/** The budget's form; `onSaved` once the settings took it. */
export function BudgetForm({ onSaved }: { onSaved: () => void }) {
  const settings = useLoad(async () => must(await api.GET("/v1/tenant/settings")), []);
  return (
    <>
      <ErrorNote error={settings.error} />
      {settings.loading && !settings.data && <Loading what="the budget" />}
      {settings.data && <Form initial={settings.data.budget} onSaved={onSaved} />}
    </>
  );
}

function Form({ initial, onSaved }: { initial: Schemas["Budget"]; onSaved: () => void }) {
  // "" is no limit.
  const [monthly, setMonthly] = useState(initial.monthly_usd == null ? "" : String(initial.monthly_usd));
  const [atLimit, setAtLimit] = useState<AtBudget>(initial.at_limit ?? "cheapest");
  const [saved, setSaved] = useState<string | null>(null);
  const save = useAction();
  return (
    <form
      class="inline"
      aria-label="Monthly budget"
      data-testid="budget-form"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(null);
        void save.run(async () => {
          const monthly_usd = monthly.trim() === "" ? null : Number(monthly);
          const body = { budget: { monthly_usd, at_limit: atLimit } } as unknown as Schemas["TenantSettings"];
          const next = must(await api.PATCH("/v1/tenant/settings", { body })).budget;
          setMonthly(next.monthly_usd == null ? "" : String(next.monthly_usd));
          setAtLimit(next.at_limit);
          setSaved(
            next.monthly_usd == null ? "Saved: no monthly budget." : `Saved: a budget of ${usd(next.monthly_usd)} a month.`,
          );
          onSaved();
        });
      }}
    >
      <label>
        Monthly budget <span class="hint">(USD; empty: no limit)</span>
        <input
          type="number"
          min={0}
          step="any"
          placeholder="no limit"
          value={monthly}
          onInput={(e) => {
            setSaved(null);
            setMonthly(inputValue(e));
          }}
        />
      </label>
      <label>
        At the limit
        <select
          value={atLimit}
          onChange={(e) => {
            setSaved(null);
            setAtLimit(inputValue(e) as AtBudget);
          }}
        >
          <option value="cheapest">Go on with the cheapest engine</option>
          <option value="fail">Stop: refuse and fail jobs</option>
          <option value="wait">Wait: keep jobs in line until there is budget</option>
        </select>
      </label>
      <button type="submit" disabled={save.busy}>
        {save.busy ? "Saving…" : "Save budget"}
      </button>
      <p role="status">{saved ?? ""}</p>
      <ErrorNote error={save.error} />
    </form>
  );
}

// The operator's fleet at a glance: workers, the queue, load by tenant,
// jobs per hour, failures by code and running batches, read again every
// 5 seconds from `GET /v1/admin/fleet` (api/src/routes/admin/fleet.rs).
// It takes the operator token (CUTROOM_OPERATOR_TOKEN), never the
// session's, so it opens without an account too. The token is kept for
// this tab only (sessionStorage), never in localStorage.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, must, withToken, type Schemas } from "../api/client";
import { eta, roughly, when } from "../format";
import { ErrorNote, Loading, PageTitle, StatusBadge } from "../ui/common";
import { inputValue } from "./settings/parts";
import "./admin.css";

type Fleet = Schemas["Fleet"];
type Worker = Schemas["WorkerView"];

const KEY = "cutroom.operatorToken";
const EVERY_MS = 5000;

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null) {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (a private window's setting): the token lives in memory only.
  }
}

/** Seconds from `from` to `to`, both ISO timestamps. */
const secondsBetween = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

export function FleetPage() {
  const [token, setToken] = useState<string | null>(storedToken);
  const [fleet, setFleet] = useState<Fleet | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [refused, setRefused] = useState(false);

  const forget = () => {
    storeToken(null);
    setToken(null);
    setFleet(null);
    setError(null);
  };

  // Now, then every 5 seconds while the tab is visible; one request at a time.
  useEffect(() => {
    if (!token) return;
    const client = withToken(token);
    let live = true;
    let busy = false;
    let timer: number | undefined;
    const load = async () => {
      timer = undefined;
      busy = true;
      try {
        const f = must(await client.GET("/v1/admin/fleet"));
        if (!live) return;
        setFleet(f);
        setError(null);
      } catch (e) {
        if (!live) return;
        if (e instanceof ApiError && e.status === 401) {
          live = false;
          forget();
          setRefused(true);
          return;
        }
        setError(
          e instanceof ApiError && e.status === 404
            ? "Operator routes are off: set CUTROOM_OPERATOR_TOKEN on the server."
            : e,
        );
      } finally {
        busy = false;
      }
      if (live && !document.hidden) timer = window.setTimeout(load, EVERY_MS);
    };
    const onVisibility = () => {
      if (!live) return;
      if (document.hidden) {
        window.clearTimeout(timer);
        timer = undefined;
      } else if (timer === undefined && !busy) void load();
    };
    void load();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      live = false;
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [token]);

  if (!token)
    return (
      <>
        <PageTitle title="Fleet">Fleet</PageTitle>
        <TokenForm
          refused={refused}
          onToken={(t) => {
            storeToken(t);
            setRefused(false);
            setToken(t);
          }}
        />
      </>
    );

  return (
    <>
      <div class="row">
        <PageTitle title="Fleet">Fleet</PageTitle>
        <button type="button" class="secondary" onClick={forget}>
          Forget the token
        </button>
      </div>
      <ErrorNote error={error} />
      {!fleet && !error && <Loading what="the fleet" />}
      {fleet && <FleetView fleet={fleet} />}
    </>
  );
}

function TokenForm({ refused, onToken }: { refused: boolean; onToken: (token: string) => void }) {
  const [value, setValue] = useState("");
  return (
    <>
      <p class="muted">
        The workers, the queue and the load of every organisation. It takes the server’s operator token
        (CUTROOM_OPERATOR_TOKEN), which this tab keeps until it closes.
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          const t = value.trim();
          if (t) onToken(t);
        }}
      >
        <label>
          Operator token
          <input
            type="password"
            autoComplete="off"
            spellcheck={false}
            required
            value={value}
            onInput={(e) => setValue(inputValue(e))}
          />
        </label>
        <button type="submit">Show the fleet</button>
        {refused && <ErrorNote error="That is not the operator token." />}
      </form>
    </>
  );
}

function FleetView({ fleet: f }: { fleet: Fleet }) {
  const q = f.queue;
  const h = f.last_hour;
  const w = f.workers;
  const perHour = h.succeeded + h.failed + h.cancelled;
  return (
    <>
      <p class="muted small">
        As of <time dateTime={f.generated_at}>{when(f.generated_at)}</time>; read again every 5 seconds.
      </p>
      <section aria-labelledby="fleet-summary-h">
        <h2 id="fleet-summary-h" class="visually-hidden">
          Summary
        </h2>
        <dl class="fleet-summary">
          <div>
            <dt>Workers</dt>
            <dd>
              {w.busy} busy · {w.idle} idle ·{" "}
              <span class={w.lost > 0 ? "error" : undefined}>{w.lost} lost</span>
            </dd>
          </div>
          <div>
            <dt>Queue</dt>
            <dd>
              {q.dispatched} dispatched · {q.waiting_for_slot} waiting for a slot · {q.retry_scheduled} retry
              scheduled
              {q.oldest_dispatched_age_seconds != null && (
                <> · oldest waits {Math.round(q.oldest_dispatched_age_seconds)} s</>
              )}
            </dd>
          </div>
          <div>
            <dt>Last hour</dt>
            <dd>
              {h.succeeded} succeeded · <span class={h.failed > 0 ? "error" : undefined}>{h.failed} failed</span> ·{" "}
              {h.cancelled} cancelled · <strong data-testid="fleet-jobs-per-hour">{perHour}</strong> jobs/hour
            </dd>
          </div>
        </dl>
      </section>
      <Workers workers={w.workers} now={f.generated_at} />
      <Tenants tenants={f.tenants} />
      <Failures failures={f.failures_last_day} />
      <Batches batches={f.batches} tenants={f.tenants} />
    </>
  );
}

function Workers({ workers, now }: { workers: Worker[]; now: string }) {
  return (
    <Listing
      id="workers"
      title="Workers"
      rows={workers.length}
      none="No worker has started."
      columns={[
        ["Worker"],
        ["Host:pid"],
        ["State"],
        ["Heartbeat", true],
        ["Current job"],
        ["Running since"],
        ["Succeeded / failed", true],
      ]}
    >
              {workers.map((w) => {
                const job = w.current_job;
                return (
                  <tr key={w.id} data-worker={w.id} data-state={w.state}>
                    <td data-label="Worker">
                      <code class="path" title={`version ${w.version}`}>
                        {w.id}
                      </code>
                    </td>
                    <td data-label="Host:pid">
                      <code class="path">
                        {w.host}:{w.pid}
                      </code>
                    </td>
                    <td data-label="State">
                      <StatusBadge status={w.state} />
                    </td>
                    <td data-label="Heartbeat" class="num">
                      {Math.max(0, Math.round(secondsBetween(w.last_heartbeat_at, now)))} s ago
                    </td>
                    <td data-label="Current job">
                      {job ? (
                        <>
                          <code title={job.id}>{job.id.slice(0, 8)}</code>
                          {job.stage && <span class="muted"> {job.stage}</span>}
                        </>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td data-label="Running since">
                      {job?.since ? (
                        <time dateTime={job.since} title={when(job.since)}>
                          {eta(secondsBetween(job.since, now))}
                        </time>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td data-label="Succeeded / failed" class="num">
                      {w.jobs_succeeded} / <span class={w.jobs_failed > 0 ? "error" : undefined}>{w.jobs_failed}</span>
                    </td>
                  </tr>
                );
              })}
    </Listing>
  );
}

function Tenants({ tenants }: { tenants: Schemas["TenantLoadView"][] }) {
  return (
    <Listing
      id="tenants"
      title="Queue by tenant"
      rows={tenants.length}
      none="No organisation has jobs queued or running."
      columns={[["Organisation"], ["Queued", true], ["Running", true], ["Oldest wait", true]]}
    >
      {tenants.map((t) => (
        <tr key={t.tenant_id} data-tenant={t.tenant_id}>
          <td data-label="Organisation" title={t.tenant_id}>
            {t.name}
          </td>
          <td data-label="Queued" class="num">
            {t.queued}
          </td>
          <td data-label="Running" class="num">
            {t.running}
          </td>
          <td data-label="Oldest wait" class="num">
            {t.oldest_queued_age_seconds != null ? eta(t.oldest_queued_age_seconds) : "—"}
          </td>
        </tr>
      ))}
    </Listing>
  );
}

function Failures({ failures }: { failures: Schemas["FailureCount"][] }) {
  return (
    <Listing
      id="failures"
      title="Failures in the last 24 hours"
      rows={failures.length}
      none="No job failed in the last 24 hours."
      columns={[["Code"], ["Jobs", true]]}
      compact
    >
      {failures.map((x) => (
        <tr key={x.code} data-code={x.code}>
          <td>
            <code>{x.code}</code>
          </td>
          <td class="num">{x.count}</td>
        </tr>
      ))}
    </Listing>
  );
}

function Batches({ batches, tenants }: { batches: Schemas["BatchRate"][]; tenants: Schemas["TenantLoadView"][] }) {
  return (
    <Listing
      id="batches"
      title="Batches running"
      rows={batches.length}
      none="No batch is running."
      columns={[["Batch"], ["Ended"], ["Failed", true], ["Per hour", true], ["ETA", true]]}
    >
      {batches.map((b) => {
        const tenant = tenants.find((t) => t.tenant_id === b.tenant_id)?.name;
        return (
          <tr key={b.id} data-batch={b.id}>
            <td data-label="Batch">
              <span class="path">{b.name}</span>
              {tenant && <div class="muted small">{tenant}</div>}
            </td>
            <td data-label="Ended">
              <span class="batch-progress">
                <progress max={Math.max(b.total, 1)} value={b.ended} aria-label={`Recordings of ${b.name} ended`}>
                  {b.ended} of {b.total}
                </progress>{" "}
                {b.ended} / {b.total}
              </span>
            </td>
            <td data-label="Failed" class="num">
              <span class={b.failed > 0 ? "error" : undefined}>{b.failed}</span>
            </td>
            <td data-label="Per hour" class="num">
              {b.per_hour != null ? b.per_hour.toFixed(1) : "—"}
            </td>
            <td data-label="ETA" class="num">
              {b.eta_seconds != null ? roughly(b.eta_seconds) : "—"}
            </td>
          </tr>
        );
      })}
    </Listing>
  );
}

/** A column's heading, and whether it holds numbers (right-aligned). */
type Column = [label: string, numeric?: boolean];

/**
 * One of the page's sections: its heading, then its table (`rows` of
 * them, given as children) or the line `none` when there are none.
 * `compact` tables keep their columns on a phone instead of stacking.
 */
function Listing(props: {
  id: string;
  title: string;
  rows: number;
  none: string;
  columns: Column[];
  compact?: boolean;
  children: ComponentChildren;
}) {
  const heading = `fleet-${props.id}-h`;
  return (
    <section aria-labelledby={heading}>
      <h2 id={heading}>{props.title}</h2>
      {props.rows === 0 ? (
        <p class="muted">{props.none}</p>
      ) : (
        <div class="table-wrap">
          <table class={props.compact ? "fleet compact" : "stack fleet"} aria-labelledby={heading}>
            <thead>
              <tr>
                {props.columns.map(([label, numeric]) => (
                  <th key={label} scope="col" class={numeric ? "num" : undefined}>
                    {label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>{props.children}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}

// One endpoint's delivery log: each message with its attempts, newest
// first, and redelivery.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { when } from "../../format";
import { Link } from "../../router";
import { ErrorNote, Loading, StatusBadge, useLoad } from "../../ui/common";
import { inputValue, useAction } from "./parts";

type Delivery = Schemas["WebhookDelivery"];
type Attempt = Schemas["Attempt"];

const STATUSES = ["pending", "delivered", "failed"];

export function Deliveries({ hook }: { hook: Schemas["Webhook"] }) {
  const [status, setStatus] = useState("");
  const [items, setItems] = useState<Delivery[]>([]);
  const [next, setNext] = useState<string | null>(null);
  // The first page comes with each filter; older pages are appended to it.
  const page = useLoad(async () => {
    const p = must(
      await api.GET("/v1/webhooks/{id}/deliveries", {
        params: { path: { id: hook.id }, query: { status: status || undefined } },
      }),
    );
    setItems(p.items);
    setNext(p.next_cursor ?? null);
    return p;
  }, [hook.id, status]);
  const older = useAction();

  const replace = (d: Delivery) => setItems((xs) => xs.map((x) => (x.id === d.id ? d : x)));

  return (
    <section aria-label={`Deliveries to ${hook.url}`} class="deliveries">
      <div class="row">
        <h5>Deliveries</h5>
        <label class="inline-label">
          Delivery status
          <select value={status} onChange={(e) => setStatus(inputValue(e))}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="secondary" onClick={page.reload}>
          Refresh
        </button>
      </div>
      {!hook.enabled && <p class="muted small">The endpoint is disabled: enable it to redeliver messages.</p>}
      <ErrorNote error={page.error} />
      {page.loading && <Loading what="deliveries" />}
      {!page.loading && items.length === 0 && !page.error && <p class="muted">No messages sent yet.</p>}
      {items.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last response</th>
                <th scope="col">Sent</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <Row key={d.id} hookId={hook.id} enabled={hook.enabled} d={d} onChange={replace} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <div class="pager">
          <button
            type="button"
            class="secondary"
            disabled={older.busy}
            onClick={() =>
              void older.run(async () => {
                const p = must(
                  await api.GET("/v1/webhooks/{id}/deliveries", {
                    params: { path: { id: hook.id }, query: { status: status || undefined, cursor: next } },
                  }),
                );
                setItems((xs) => [...xs, ...p.items]);
                setNext(p.next_cursor ?? null);
              })
            }
          >
            Older messages
          </button>
        </div>
      )}
      <ErrorNote error={older.error} />
    </section>
  );
}

function response(a: Attempt | undefined): string {
  if (!a) return "—";
  if (a.status_code != null) return a.error ? `${a.status_code}: ${a.error}` : String(a.status_code);
  return a.error ?? "no answer";
}

function Row({
  hookId,
  enabled,
  d,
  onChange,
}: {
  hookId: string;
  enabled: boolean;
  d: Delivery;
  onChange: (d: Delivery) => void;
}) {
  const again = useAction();
  const [queued, setQueued] = useState(false);
  const last = d.log[d.log.length - 1];
  return (
    <tr data-delivery={d.id} data-status={d.status}>
      <td data-label="Event">
        <code>{d.event_type}</code>
        {d.job_id && (
          <div class="small">
            <Link href={`/jobs/${d.job_id}`}>job {d.job_id.slice(0, 8)}</Link>
          </div>
        )}
      </td>
      <td data-label="Status">
        <StatusBadge status={d.status} />
        {d.next_attempt_at && <div class="muted small">next try {when(d.next_attempt_at)}</div>}
      </td>
      <td data-label="Attempts">{d.attempts}</td>
      <td data-label="Last response">
        {response(last)}
        {d.log.length > 1 && (
          <details>
            <summary class="small">All {d.log.length} attempts</summary>
            <ol class="small">
              {d.log.map((a, i) => (
                <li key={i}>
                  {when(a.at)}: {response(a)} ({a.duration_ms} ms)
                </li>
              ))}
            </ol>
          </details>
        )}
      </td>
      <td data-label="Sent">
        {when(d.created_at)}
        {d.delivered_at && <div class="muted small">delivered {when(d.delivered_at)}</div>}
      </td>
      <td>
        <button
          type="button"
          class="secondary"
          disabled={!enabled || again.busy}
          aria-label={`Redeliver ${d.event_type} message of ${when(d.created_at)}`}
          onClick={() =>
            void again.run(async () => {
              const r = must(
                await api.POST("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", {
                  params: { path: { id: hookId, delivery_id: d.id } },
                }),
              );
              onChange(r);
              setQueued(true);
            })
          }
        >
          Redeliver
        </button>
        <p role="status" class="small">
          {queued ? "Queued for sending." : ""}
        </p>
        <ErrorNote error={again.error} />
      </td>
    </tr>
  );
}

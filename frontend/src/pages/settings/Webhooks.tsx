// Webhook endpoints and their delivery logs. Admins and owners only: the
// API refuses everyone else even the list.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { when } from "../../format";
import { ErrorNote, Loading, StatusBadge, useLoad } from "../../ui/common";
import { AdminsOnly, inputValue, OneTime, useAction } from "./parts";
import { Deliveries } from "./WebhookDeliveries";

type Webhook = Schemas["Webhook"];

/** `EVENT_TYPES` in core/src/webhooks.rs: the spec names them only in prose. */
const EVENTS: { id: string; about: string }[] = [
  { id: "job.created", about: "a job was submitted" },
  { id: "job.stage_completed", about: "a stage of a job finished" },
  { id: "job.succeeded", about: "a job finished" },
  { id: "job.failed", about: "a job failed" },
  { id: "job.cancelled", about: "a job was cancelled" },
  { id: "moderation.flagged", about: "moderation raised a flag" },
  { id: "clips.ready", about: "a job’s clips can be downloaded" },
  { id: "batch.unpacked", about: "a batch’s archive or manifest was unpacked into jobs" },
  { id: "batch.completed", about: "every job of a batch ended" },
  { id: "transcription.key_refused", about: "a cloud speech engine refused the organisation’s API key" },
];

export function WebhooksTab() {
  const { me } = useAuth();
  if (!atLeast(me, "admin"))
    return (
      <section class="panel" aria-labelledby="webhooks-h">
        <h2 id="webhooks-h">Webhooks</h2>
        <AdminsOnly>Only admins and owners can see and manage webhook endpoints.</AdminsOnly>
      </section>
    );
  return <Webhooks />;
}

function EventChecks({
  legend,
  chosen,
  onChange,
  disabled,
}: {
  legend: string;
  chosen: string[];
  onChange: (events: string[]) => void;
  disabled?: boolean;
}) {
  return (
    <fieldset disabled={disabled}>
      <legend>{legend}</legend>
      <div class="checks">
        {EVENTS.map((ev) => (
          <label class="check" key={ev.id} title={ev.about}>
            <input
              type="checkbox"
              checked={chosen.includes(ev.id)}
              onChange={(e) => {
                const on = (e.target as HTMLInputElement).checked;
                // Keep the API's order, whatever order they were ticked in.
                onChange(EVENTS.map((x) => x.id).filter((id) => (id === ev.id ? on : chosen.includes(id))));
              }}
            />
            <code>{ev.id}</code>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function Webhooks() {
  const hooks = useLoad(async () => must(await api.GET("/v1/webhooks")).items, []);
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState<string[]>(["job.succeeded", "job.failed"]);
  const [created, setCreated] = useState<Schemas["WebhookCreated"] | null>(null);
  const create = useAction();

  const replace = (w: Webhook) => hooks.set((old) => old?.map((x) => (x.id === w.id ? w : x)));

  return (
    <section class="panel" aria-labelledby="webhooks-h">
      <h2 id="webhooks-h">Webhooks</h2>
      <p class="muted">
        Cutroom posts a signed message (Standard Webhooks) to each endpoint for the events it subscribes to, and
        retries for about a day when delivery fails.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void create.run(async () => {
            if (events.length === 0) throw new Error("Choose at least one event.");
            const w = must(
              await api.POST("/v1/webhooks", { body: { url: url.trim(), events, description: description.trim() } }),
            );
            setCreated(w);
            setUrl("");
            setDescription("");
            const { secret: _, ...hook } = w;
            hooks.set((old) => [...(old ?? []), hook]);
          });
        }}
      >
        <h3>Add an endpoint</h3>
        <label>
          Endpoint URL
          <input
            type="url"
            required
            placeholder="https://example.com/hooks/cutroom"
            value={url}
            onInput={(e) => setUrl(inputValue(e))}
          />
        </label>
        <label>
          Description <span class="hint">(optional)</span>
          <input maxLength={200} value={description} onInput={(e) => setDescription(inputValue(e))} />
        </label>
        <EventChecks legend="Events" chosen={events} onChange={setEvents} />
        <ErrorNote error={create.error} />
        <button type="submit" disabled={create.busy}>
          {create.busy ? "Adding…" : "Add endpoint"}
        </button>
      </form>
      {created && (
        <OneTime id="new-secret" text={created.secret} onDismiss={() => setCreated(null)}>
          The signing secret of {created.url}. Store it to verify the <code>webhook-signature</code> header: it will
          not be shown again.
        </OneTime>
      )}

      <h3>Endpoints</h3>
      <ErrorNote error={hooks.error} />
      {hooks.loading && !hooks.data && <Loading what="webhook endpoints" />}
      {hooks.data && hooks.data.length === 0 && <p class="muted">No endpoints yet.</p>}
      {hooks.data?.map((w) => (
        <Endpoint
          key={w.id}
          hook={w}
          onChange={replace}
          onDelete={() => hooks.set((old) => old?.filter((x) => x.id !== w.id))}
        />
      ))}
    </section>
  );
}

function Endpoint({
  hook,
  onChange,
  onDelete,
}: {
  hook: Webhook;
  onChange: (w: Webhook) => void;
  onDelete: () => void;
}) {
  const act = useAction();
  const [editing, setEditing] = useState<string[] | null>(null);
  const [open, setOpen] = useState(false);
  const headingId = `hook-${hook.id}`;

  const patch = (body: Schemas["UpdateWebhookRequest"]) =>
    act.run(async () => {
      onChange(must(await api.PATCH("/v1/webhooks/{id}", { params: { path: { id: hook.id } }, body })));
      setEditing(null);
    });

  return (
    <article class="card" data-webhook={hook.id} aria-labelledby={headingId}>
      <h4 id={headingId} class="mono hook-url">
        {hook.url}
      </h4>
      {hook.description && <p>{hook.description}</p>}
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <StatusBadge status={hook.enabled ? "enabled" : "disabled"} />
          {hook.disabled_reason && <span class="muted small"> {hook.disabled_reason}</span>}
        </dd>
        {hook.failing_since && (
          <>
            <dt>Failing since</dt>
            <dd class="error">{when(hook.failing_since)}</dd>
          </>
        )}
        <dt>Events</dt>
        <dd>{hook.events.join(", ")}</dd>
        <dt>Added</dt>
        <dd>{when(hook.created_at)}</dd>
      </dl>
      {editing ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (editing.length === 0) act.setError(new Error("Choose at least one event."));
            else void patch({ events: editing });
          }}
        >
          <EventChecks legend={`Events sent to ${hook.url}`} chosen={editing} onChange={setEditing} />
          <div class="actions">
            <button type="submit" disabled={act.busy}>
              Save events
            </button>
            <button type="button" class="secondary" onClick={() => setEditing(null)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="actions spaced">
          <button
            type="button"
            class="secondary"
            disabled={act.busy}
            aria-label={`${hook.enabled ? "Disable" : "Enable"} ${hook.url}`}
            onClick={() => void patch({ enabled: !hook.enabled })}
          >
            {hook.enabled ? "Disable" : "Enable"}
          </button>
          <button
            type="button"
            class="secondary"
            aria-label={`Edit events of ${hook.url}`}
            onClick={() => setEditing(hook.events)}
          >
            Edit events
          </button>
          <button
            type="button"
            class="secondary"
            aria-expanded={open}
            aria-label={`Deliveries to ${hook.url}`}
            onClick={() => setOpen(!open)}
          >
            {open ? "Hide deliveries" : "Deliveries"}
          </button>
          <button
            type="button"
            class="danger"
            disabled={act.busy}
            aria-label={`Delete ${hook.url}`}
            onClick={() => {
              if (!confirm(`Delete the endpoint ${hook.url} and its delivery log?`)) return;
              void act.run(async () => {
                must(await api.DELETE("/v1/webhooks/{id}", { params: { path: { id: hook.id } } }));
                onDelete();
              });
            }}
          >
            Delete
          </button>
        </div>
      )}
      <ErrorNote error={act.error} />
      {open && <Deliveries hook={hook} />}
    </article>
  );
}

// API keys: credentials for programs. Admins and owners only: the API
// refuses everyone else even the list.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth, type Role } from "../../auth";
import { when } from "../../format";
import { ErrorNote, Loading, StatusBadge, useLoad } from "../../ui/common";
import { AdminsOnly, inputValue, OneTime, RoleSelect, useAction } from "./parts";

type Key = Schemas["ApiKeyInfo"];

export function KeysTab() {
  const { me } = useAuth();
  if (!atLeast(me, "admin"))
    return (
      <section class="panel" aria-labelledby="keys-h">
        <h2 id="keys-h">API keys</h2>
        <AdminsOnly>Only admins and owners can see and manage API keys. Ask one of them for a key.</AdminsOnly>
      </section>
    );
  return <Keys />;
}

function Keys() {
  const { me } = useAuth();
  const keys = useLoad(async () => must(await api.GET("/v1/api-keys")).items, []);
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("member");
  const create = useAction();

  return (
    <section class="panel" aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <p class="muted">
        Programs use a key as a bearer token. A key acts with its role in this organisation, which can be at most
        your own.
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run(async () => {
            const k = must(await api.POST("/v1/api-keys", { body: { name: name.trim(), role } }));
            setCreated(k);
            setName("");
            const info: Key = { id: k.id, name: k.name, role: k.role, prefix: k.prefix, created_at: k.created_at };
            keys.set((old) => [info, ...(old ?? [])]);
          });
        }}
      >
        <label>
          Key name
          <input required maxLength={100} value={name} onInput={(e) => setName(inputValue(e))} />
        </label>
        <RoleSelect me={me} value={role} onChange={setRole} />
        <button type="submit" disabled={create.busy}>
          {create.busy ? "Creating…" : "Create key"}
        </button>
        <ErrorNote error={create.error} />
      </form>
      {created && (
        <OneTime id="new-key" text={created.key} onDismiss={() => setCreated(null)}>
          The key “{created.name}” ({created.role}). Copy it now: it will not be shown again.
        </OneTime>
      )}

      <h3>Your organisation’s keys</h3>
      <ErrorNote error={keys.error} />
      {keys.loading && !keys.data && <Loading what="API keys" />}
      {keys.data && keys.data.length === 0 && <p class="muted">No API keys yet.</p>}
      {keys.data && keys.data.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="visually-hidden">State and actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <KeyRow
                  key={k.id}
                  k={k}
                  onRevoked={() =>
                    keys.set((old) =>
                      old?.map((x) => (x.id === k.id ? { ...x, revoked_at: new Date().toISOString() } : x)),
                    )
                  }
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function KeyRow({ k, onRevoked }: { k: Key; onRevoked: () => void }) {
  const revoke = useAction();
  const revoked = !!k.revoked_at;
  return (
    <tr data-key={k.id} data-revoked={revoked ? "true" : undefined}>
      <td data-label="Name">{k.name}</td>
      <td data-label="Role">{k.role}</td>
      <td data-label="Prefix">
        <code>{k.prefix}</code>
      </td>
      <td data-label="Created">{when(k.created_at)}</td>
      <td data-label="Last used">{k.last_used_at ? when(k.last_used_at) : "never"}</td>
      <td>
        {revoked ? (
          <span>
            <StatusBadge status="revoked" /> <span class="muted small">{when(k.revoked_at)}</span>
          </span>
        ) : (
          <button
            type="button"
            class="danger"
            aria-label={`Revoke ${k.name}`}
            disabled={revoke.busy}
            onClick={() => {
              if (!confirm(`Revoke the key “${k.name}”? Programs using it stop working at once.`)) return;
              void revoke.run(async () => {
                must(await api.DELETE("/v1/api-keys/{id}", { params: { path: { id: k.id } } }));
                onRevoked();
              });
            }}
          >
            Revoke
          </button>
        )}
        <ErrorNote error={revoke.error} />
      </td>
    </tr>
  );
}

// The organisation's members: roles, removal and invitations. Everyone may
// list the members; admins and owners invite, change and remove them, and
// only owners grant, change or remove the owner role
// (api/src/routes/members.rs). Nobody joins without accepting: adding
// someone always makes an invitation, which admins see here and may revoke.

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../api/client";
import { atLeast, logout, useAuth, type Me, type Role } from "../auth";
import { when } from "../format";
import { navigate } from "../router";
import { ErrorNote, Loading, PageTitle, StatusBadge, useLoad, type Loaded } from "../ui/common";
import { AdminsOnly, inputValue, OneTime, RoleSelect, ROLES, useAction } from "./settings/parts";
import "./admin.css";

type Member = Schemas["Member"];
type Invitation = Schemas["Invitation"];

export function MembersPage() {
  const { me } = useAuth();
  const isAdmin = atLeast(me, "admin");
  const members = useLoad(async () => must(await api.GET("/v1/members")).items, []);
  const invitations = useLoad(
    async () => (isAdmin ? must(await api.GET("/v1/invitations")).items : []),
    [isAdmin],
  );
  return (
    <>
      <PageTitle title="Members">Members of {me.tenant.name}</PageTitle>
      {isAdmin ? (
        <>
          <Invite onInvited={invitations.reload} />
          <Invitations invitations={invitations} />
        </>
      ) : (
        <AdminsOnly>Only admins and owners can invite people or change roles; you can see who is here.</AdminsOnly>
      )}
      <section aria-labelledby="member-list">
        <h2 id="member-list">Members</h2>
        <p class="muted small">
          Viewers can read; members also submit jobs and decide on flags; admins manage members, keys, webhooks and
          settings; owners also manage owners.
        </p>
        <ErrorNote error={members.error} />
        {members.loading && !members.data && <Loading what="members" />}
        {members.data && (
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Joined</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {members.data.map((m) => (
                  <MemberRow
                    key={m.user_id}
                    m={m}
                    me={me}
                    onChange={(n) => members.set((old) => old?.map((x) => (x.user_id === n.user_id ? n : x)))}
                    onRemove={() => members.set((old) => old?.filter((x) => x.user_id !== m.user_id))}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function MemberRow({
  m,
  me,
  onChange,
  onRemove,
}: {
  m: Member;
  me: Me;
  onChange: (m: Member) => void;
  onRemove: () => void;
}) {
  const { reload } = useAuth();
  const act = useAction();
  const self = me.user?.id === m.user_id;
  const isOwner = me.role === "owner";
  // The API's rules, so the controls offer only what it would accept.
  const canSetRole = atLeast(me, "admin") && (m.role !== "owner" || isOwner);
  const canRemove = self || (atLeast(me, "admin") && (m.role !== "owner" || isOwner));
  const why =
    m.role === "owner" && !isOwner && atLeast(me, "admin") ? "Only owners can change or remove an owner." : null;

  return (
    <tr data-member={m.user_id} data-role={m.role}>
      <td data-label="Name">
        {m.name}
        {self && <span class="muted"> (you)</span>}
      </td>
      <td data-label="Email">{m.email}</td>
      <td data-label="Role">
        {canSetRole ? (
          <select
            aria-label={`Role of ${m.name}`}
            value={m.role}
            disabled={act.busy}
            onChange={(e) => {
              const select = e.target as HTMLSelectElement;
              const role = select.value as Role;
              void act.run(async () => {
                try {
                  const path = { user_id: m.user_id };
                  onChange(must(await api.PATCH("/v1/members/{user_id}", { params: { path }, body: { role } })));
                  // One's own role decides what the app offers.
                  if (self) await reload();
                } catch (err) {
                  // Show the role the member still has.
                  select.value = m.role;
                  throw err;
                }
              });
            }}
          >
            {ROLES.map((r) => (
              <option key={r} value={r} disabled={r === "owner" && !isOwner}>
                {r}
              </option>
            ))}
          </select>
        ) : (
          <span>{m.role}</span>
        )}
        {why && <div class="muted small">{why}</div>}
        <ErrorNote error={act.error} />
      </td>
      <td data-label="Joined">{when(m.joined_at)}</td>
      <td>
        {canRemove && (
          <button
            type="button"
            class="danger"
            disabled={act.busy}
            aria-label={self ? `Leave ${me.tenant.name}` : `Remove ${m.name}`}
            onClick={() => {
              const question = self
                ? `Leave ${me.tenant.name}? You lose access at once and are signed out.`
                : `Remove ${m.name} (${m.email}) from ${me.tenant.name}? Their sessions here end at once.`;
              if (!confirm(question)) return;
              void act.run(async () => {
                must(await api.DELETE("/v1/members/{user_id}", { params: { path: { user_id: m.user_id } } }));
                if (self) {
                  // The API ended this session's refresh token with the membership.
                  await logout();
                  navigate("/login");
                } else onRemove();
              });
            }}
          >
            {self ? "Leave" : "Remove"}
          </button>
        )}
      </td>
    </tr>
  );
}

function Invite({ onInvited }: { onInvited: () => void }) {
  const { me } = useAuth();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [invited, setInvited] = useState<Schemas["InvitationCreated"] | null>(null);
  const send = useAction();
  const link = invited ? `${location.origin}/invite?token=${encodeURIComponent(invited.token)}` : "";

  return (
    <section aria-labelledby="invite-h" class="card">
      <h2 id="invite-h">Invite someone</h2>
      <p class="muted">
        Everyone gets an invitation link, valid for 7 days, and joins when they accept it: with their account if they
        have one (signed in as the invited address), or with a new one.
      </p>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setInvited(null);
          void send.run(async () => {
            const r = must(await api.POST("/v1/members", { body: { email: email.trim(), role } }));
            setEmail("");
            setInvited(r.invitation);
            onInvited();
          });
        }}
      >
        <label>
          Email
          <input type="email" required value={email} onInput={(e) => setEmail(inputValue(e))} />
        </label>
        <RoleSelect me={me} value={role} onChange={setRole} />
        <button type="submit" disabled={send.busy}>
          {send.busy ? "Inviting…" : "Invite"}
        </button>
        <ErrorNote error={send.error} />
      </form>
      {invited && (
        <OneTime id="invite-link" text={link} onDismiss={() => setInvited(null)}>
          Send this link to {invited.email}: it lets them join as {invited.role} and expires on{" "}
          {when(invited.expires_at)}. It will not be shown again.
        </OneTime>
      )}
    </section>
  );
}

function Invitations({ invitations }: { invitations: Loaded<Invitation[]> }) {
  return (
    <section aria-labelledby="invitation-list">
      <h2 id="invitation-list">Invitations</h2>
      <p class="muted small">
        Invitations nobody has accepted yet. Revoking one makes its link stop working at once.
      </p>
      <ErrorNote error={invitations.error} />
      {invitations.loading && !invitations.data && <Loading what="invitations" />}
      {invitations.data && invitations.data.length === 0 && <p class="muted">No open invitations.</p>}
      {invitations.data && invitations.data.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.map((i) => (
                <InvitationRow
                  key={i.id}
                  i={i}
                  onRevoked={() => invitations.set((old) => old?.filter((x) => x.id !== i.id))}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function InvitationRow({ i, onRevoked }: { i: Invitation; onRevoked: () => void }) {
  const revoke = useAction();
  return (
    <tr data-invitation={i.id} data-status={i.status}>
      <td data-label="Email">{i.email}</td>
      <td data-label="Role">{i.role}</td>
      <td data-label="Status">
        <StatusBadge status={i.status} />
      </td>
      <td data-label="Expires">{when(i.expires_at)}</td>
      <td>
        <button
          type="button"
          class="danger"
          aria-label={`Revoke the invitation of ${i.email}`}
          disabled={revoke.busy}
          onClick={() => {
            if (!confirm(`Revoke the invitation of ${i.email}? Its link stops working at once.`)) return;
            void revoke.run(async () => {
              must(await api.DELETE("/v1/invitations/{id}", { params: { path: { id: i.id } } }));
              onRevoked();
            });
          }}
        >
          Revoke
        </button>
        <ErrorNote error={revoke.error} />
      </td>
    </tr>
  );
}

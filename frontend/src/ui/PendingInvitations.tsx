// The invitations to the signed-in user's address, on every page until
// answered. Declining takes a click; accepting takes the invitation's link,
// because Cutroom does not verify addresses: the link, sent to the address,
// is what shows the invitation is really this person's
// (api/src/routes/invitations.rs).

import { api, must, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { when } from "../format";
import { useAction } from "../pages/settings/parts";
import { ErrorNote } from "./common";

export function PendingInvitations() {
  const { me } = useAuth();
  if (me.pending_invitations.length === 0) return null;
  return (
    // Above each page's own heading, so labelled rather than headed.
    <section class="invitations" aria-label="Invitations for you">
      <ul>
        {me.pending_invitations.map((i) => (
          <Pending key={i.id} i={i} />
        ))}
      </ul>
    </section>
  );
}

function Pending({ i }: { i: Schemas["PendingInvitation"] }) {
  const { reload } = useAuth();
  const decline = useAction();
  return (
    <li data-invitation={i.id}>
      <p>
        <strong>{i.tenant_name}</strong> invited you to join as {i.role}. To accept, open the invitation link you were
        sent; it works until {when(i.expires_at)}.
      </p>
      <button
        type="button"
        class="secondary"
        disabled={decline.busy}
        aria-label={`Decline the invitation to ${i.tenant_name}`}
        onClick={() =>
          void decline.run(async () => {
            must(await api.POST("/v1/me/invitations/{id}/decline", { params: { path: { id: i.id } } }));
            await reload();
          })
        }
      >
        Decline
      </button>
      <ErrorNote error={decline.error} />
    </li>
  );
}

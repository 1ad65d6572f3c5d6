// An invitation link opened while signed in: join with this account. The
// API accepts only an invitation to this account's own address, and only
// with the link's token (api/src/routes/invitations.rs).

import { api, must } from "../api/client";
import { logout, switchTenant, useAuth } from "../auth";
import { navigate } from "../router";
import { ErrorNote, PageTitle } from "../ui/common";
import { useAction } from "./settings/parts";
import "./admin.css";

export function JoinPage({ token }: { token: string }) {
  const { me } = useAuth();
  const accept = useAction();
  if (!token)
    return (
      <>
        <PageTitle title="Invitation">Invitation</PageTitle>
        <p class="error" role="alert">
          This link has no invitation token. Open the link from your invitation exactly as it was sent.
        </p>
      </>
    );
  return (
    <>
      <PageTitle title="Join">Join an organisation</PageTitle>
      <p>
        You are signed in as {me.user?.email}. The invitation must be for this address; if it was sent to another
        one, log out and open the link again.
      </p>
      <div class="actions">
        <button
          type="button"
          disabled={accept.busy}
          onClick={() =>
            void accept.run(async () => {
              const joined = must(await api.POST("/v1/me/invitations/accept", { body: { token } }));
              // Straight into the organisation just joined.
              await switchTenant(joined.tenant_id);
              navigate("/jobs", { replace: true });
            })
          }
        >
          {accept.busy ? "Joining…" : "Accept the invitation"}
        </button>
        <button
          type="button"
          class="secondary"
          onClick={async () => {
            await logout();
            navigate(`/invite?token=${encodeURIComponent(token)}`, { replace: true });
          }}
        >
          Log out and join as someone else
        </button>
      </div>
      <ErrorNote error={accept.error} />
    </>
  );
}

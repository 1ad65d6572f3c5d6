// The frame of every signed-in page: a skip link, the navigation, the
// tenant switcher, the sign-out button, the invitations waiting for the
// user, and a footer with the operator's fleet page.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { atLeast, logout, switchTenant as moveSession, useAuth } from "../auth";
import { Link, navigate } from "../router";
import { ErrorNote } from "./common";
import { PendingInvitations } from "./PendingInvitations";

export function Layout({ children }: { children: ComponentChildren }) {
  const { me } = useAuth();
  const [error, setError] = useState<unknown>(null);

  const switchTenant = async (tenantId: string) => {
    try {
      await moveSession(tenantId);
      navigate("/jobs");
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <nav aria-label="Main">
          <Link href="/jobs" class="brand" aria-current={undefined}>
            Cutroom
          </Link>
          <Link href="/jobs">Jobs</Link>
          <Link href="/batches">Batches</Link>
          <Link href="/review">Review</Link>
          <Link href="/speakers">Speakers</Link>
          {atLeast(me, "admin") && <Link href="/members">Members</Link>}
          <Link href="/settings">Settings</Link>
        </nav>
        <div class="who">
          {me.memberships.length > 1 ? (
            <label>
              <span class="visually-hidden">Tenant</span>
              <select value={me.tenant.id} onChange={(e) => switchTenant((e.target as HTMLSelectElement).value)}>
                {me.memberships.map((m) => (
                  <option value={m.tenant_id} key={m.tenant_id}>
                    {m.tenant_name} ({m.role})
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span class="tenant">{me.tenant.name}</span>
          )}
          <span class="user" title={me.user?.email}>
            {me.user?.name}
          </span>
          <button
            type="button"
            class="secondary"
            onClick={async () => {
              await logout();
              navigate("/login");
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <ErrorNote error={error} />
      <main id="main" tabIndex={-1}>
        <PendingInvitations />
        {children}
      </main>
      <footer class="bottom">
        <Link href="/fleet">Operators: the fleet</Link>
      </footer>
    </>
  );
}

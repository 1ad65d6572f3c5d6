// The signed-in session, kept the way a careful SaaS keeps it: the access
// token lives only in this module's memory (never in localStorage, so an
// injected script cannot read it from storage), and the refresh token is
// an HttpOnly, SameSite=Strict cookie set by the API, readable by no
// script at all. `X-Cutroom-Session: cookie` asks the API for that cookie;
// the API also insists on the header before it reads the cookie, which a
// cross-site form cannot send (the CSRF defence, besides SameSite).

import type { components } from "./schema";

export type TokenResponse = components["schemas"]["TokenResponse"];

export const SESSION_HEADER = { "X-Cutroom-Session": "cookie" } as const;

interface Access {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  tenantId: string;
  userId: string;
}

let access: Access | null = null;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<() => void>();

/** Called whenever the session starts, changes tenant or ends. */
export function onSessionChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

function notify() {
  for (const f of listeners) f();
}

export function accessToken(): string | null {
  return access?.token ?? null;
}

export function signedIn(): boolean {
  return access !== null;
}

/** Keeps the access token from a sign-in, sign-up or refresh answer. */
export function adopt(t: TokenResponse) {
  const changed = access?.tenantId !== t.tenant_id || access?.userId !== t.user_id;
  access = {
    token: t.access_token,
    expiresAt: Date.parse(t.expires_at),
    tenantId: t.tenant_id,
    userId: t.user_id,
  };
  if (changed) notify();
}

export function forget() {
  const had = access !== null;
  access = null;
  if (had) notify();
}

/** Whether the access token runs out within `marginMs`. */
export function expiresSoon(marginMs = 30_000): boolean {
  return access !== null && access.expiresAt - Date.now() < marginMs;
}

/**
 * Trades the refresh cookie for a new access token (and a rotated cookie).
 * One refresh at a time: concurrent callers share it, since the API's
 * refresh tokens are single use and a second call would end the session.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const r = await acrossTabs(() =>
        fetch("/v1/auth/refresh", {
          method: "POST",
          headers: { ...SESSION_HEADER },
          credentials: "same-origin",
        }),
      );
      if (!r.ok) {
        forget();
        return false;
      }
      adopt((await r.json()) as TokenResponse);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/**
 * Runs `f` while no other tab of this origin is refreshing. Tabs share the
 * cookie: two refreshes sent at once would both present the same single-use
 * token, and the API takes the second for a stolen one and ends the
 * session. The Web Locks API queues them, so the second sends the cookie
 * the first one rotated. (Without it, outside a secure context, `f` runs
 * unguarded.)
 */
async function acrossTabs<T>(f: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  // The lock is held until `f`'s promise settles; request resolves to its value.
  return locks ? ((await locks.request("cutroom-session-refresh", f)) as T) : f();
}

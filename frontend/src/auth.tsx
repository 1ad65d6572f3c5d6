// Who is signed in: the `/v1/me` answer, shared through a context, and the
// actions that start or end a session.

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { api, must, type Schemas } from "./api/client";
import { adopt, forget, SESSION_HEADER } from "./api/session";

export type Me = Schemas["Me"];
export type Role = Schemas["Role"];

export interface Auth {
  me: Me;
  /** Reads `/v1/me` again (after a tenant or profile change). */
  reload: () => Promise<void>;
}

export const AuthContext = createContext<Auth | null>(null);

/** The signed-in user; only for pages behind the sign-in. */
export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error("useAuth outside a signed-in page");
  return a;
}

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** Whether the signed-in role is at least `role`. */
export function atLeast(me: Me, role: Role): boolean {
  return RANK[me.role] >= RANK[role];
}

export async function login(email: string, password: string, tenantId?: string) {
  adopt(
    must(
      await api.POST("/v1/auth/login", {
        body: { email, password, tenant_id: tenantId ?? null },
        headers: SESSION_HEADER,
      }),
    ),
  );
}

export async function signup(body: Schemas["SignupRequest"]) {
  adopt(must(await api.POST("/v1/auth/signup", { body, headers: SESSION_HEADER })));
}

export async function acceptInvite(body: Schemas["AcceptInviteRequest"]) {
  adopt(must(await api.POST("/v1/auth/accept-invite", { body, headers: SESSION_HEADER })));
}

/** Moves the session to another of the user's tenants; the refresh cookie rotates with it. */
export async function switchTenant(tenantId: string) {
  adopt(must(await api.POST("/v1/auth/refresh", { body: { tenant_id: tenantId }, headers: SESSION_HEADER })));
}

export async function logout() {
  // The API ends the session and clears the cookie; forget the token even
  // if it cannot be reached.
  await api.POST("/v1/auth/logout", { headers: SESSION_HEADER }).catch(() => undefined);
  forget();
}

export async function loadMe(): Promise<Me> {
  return must(await api.GET("/v1/me"));
}

// The typed API client. Every call goes through the documented public API;
// the paths and bodies are typed from openapi/openapi.json (see `npm run
// types`), so an API change that the app does not follow fails the build.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { accessToken, expiresSoon, refresh, signedIn } from "./session";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

/** A refused request, with the API's stable `code` and its human `detail`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * `fetch` with the bearer token; renews the access token shortly before it
 * expires, and once more (then retries) if the API answers 401 anyway.
 */
export async function authedFetch(input: Request): Promise<Response> {
  if (signedIn() && expiresSoon()) await refresh();
  const retry = input.clone();
  const send = (req: Request) => {
    const token = accessToken();
    if (token) req.headers.set("Authorization", `Bearer ${token}`);
    return fetch(req);
  };
  const r = await send(input);
  if (r.status === 401 && signedIn() && (await refresh())) return send(retry);
  return r;
}

export const api = createClient<paths>({ baseUrl: "", fetch: authedFetch });

/**
 * A client that sends `token` as its bearer token, never the session's:
 * for the operator's routes (`/v1/admin/…`), whose token is nobody's
 * account. Nothing is renewed or retried: a refused token stays refused.
 */
export function withToken(token: string) {
  return createClient<paths>({ baseUrl: "", headers: { Authorization: `Bearer ${token}` } });
}

/** The error of a failed call, as an [`ApiError`]. */
export function problem(error: unknown, response: Response): ApiError {
  const p = error as Partial<Problem> | undefined;
  return new ApiError(
    response.status,
    p?.code ?? `http_${response.status}`,
    p?.detail ?? (response.statusText || `The server answered ${response.status}.`),
  );
}

/**
 * The data of an openapi-fetch result, or throws its [`ApiError`]:
 * `const job = must(await api.GET(...))`.
 */
export function must<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || !r.response.ok) throw problem(r.error, r.response);
  return r.data as T;
}

type ListJobsQuery = NonNullable<paths["/v1/jobs"]["get"]["parameters"]["query"]>;

/**
 * A page of jobs. The operation also answers `text/event-stream` (the live
 * list, see `live.ts`), so its generated type is a union; this call asks
 * for and returns the JSON page.
 */
export async function listJobs(query: ListJobsQuery): Promise<Schemas["JobPage"]> {
  return must(await api.GET("/v1/jobs", { params: { query } })) as Schemas["JobPage"];
}

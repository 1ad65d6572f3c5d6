// The tenant's logo, drawn in the corner of its audiograms (the clips of
// sources without a picture: podcasts, recordings, MP3s). Everyone sees
// it; admins and owners upload and remove it.

import { useState } from "preact/hooks";
import { ApiError, api, authedFetch, must, problem, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { AdminsOnly, useAction } from "./parts";

/** What `PUT /v1/tenant/logo` takes: the API refuses anything else. */
const TYPES = ["image/png", "image/jpeg"];
const MAX_BYTES = 1024 * 1024;

/** The logo, or `null` when the tenant has none (the API answers 404). */
async function loadLogo(): Promise<Schemas["TenantLogo"] | null> {
  const r = await api.GET("/v1/tenant/logo");
  if (r.response.status === 404) return null;
  return must(r);
}

export function LogoTab() {
  const { me } = useAuth();
  const canEdit = atLeast(me, "admin");
  const logo = useLoad(loadLogo, []);
  const save = useAction();
  const [status, setStatus] = useState("");

  const upload = (file: File) => {
    setStatus("");
    // The same checks as the API's, before sending a byte.
    if (!TYPES.includes(file.type)) {
      save.setError(new ApiError(415, "unsupported_logo_type", "Choose a PNG or JPEG image."));
      return;
    }
    if (file.size > MAX_BYTES) {
      save.setError(new ApiError(413, "logo_too_large", "The logo must be at most 1 MiB."));
      return;
    }
    void save.run(async () => {
      const r = await authedFetch(
        new Request("/v1/tenant/logo", { method: "PUT", headers: { "Content-Type": file.type }, body: file }),
      );
      if (!r.ok) throw problem(await r.json().catch(() => undefined), r);
      const next = (await r.json()) as Schemas["TenantLogo"];
      logo.set(() => next);
      setStatus("Saved: audiograms rendered from now on carry this logo.");
    });
  };
  const remove = () => {
    setStatus("");
    void save.run(async () => {
      const r = await api.DELETE("/v1/tenant/logo");
      if (!r.response.ok) throw problem(r.error, r.response);
      logo.set(() => null);
      setStatus("Removed: audiograms rendered from now on have no logo.");
    });
  };

  return (
    <section class="panel" aria-labelledby="logo-h">
      <h2 id="logo-h">Logo for audiograms</h2>
      <p class="muted">
        A source without a picture (a podcast, a phone recording, an MP3) gets audiogram clips: bars drawn from its
        sound, its title and captions. Your logo goes in their top right corner. PNG or JPEG, at most 1 MiB and 2048
        pixels a side; it is stored as a PNG.
      </p>
      {!canEdit && <AdminsOnly>Only admins and owners can change the logo; you can see it.</AdminsOnly>}
      <ErrorNote error={logo.error} />
      {logo.loading && logo.data === undefined && <Loading what="the logo" />}
      {logo.data === null && <p>No logo: audiograms have none.</p>}
      {logo.data && (
        <figure class="logo-preview">
          <img src={logo.data.url} alt="The tenant’s logo, as audiograms show it" />
        </figure>
      )}
      {canEdit && logo.data !== undefined && (
        <div class="inline logo-form">
          <label>
            {logo.data ? "Replace the logo" : "Upload a logo"}
            <input
              type="file"
              accept={TYPES.join(",")}
              disabled={save.busy}
              onChange={(e) => {
                const input = e.target as HTMLInputElement;
                const file = input.files?.[0];
                if (file) upload(file);
                input.value = "";
              }}
            />
          </label>
          {logo.data && (
            <button type="button" class="secondary" disabled={save.busy} onClick={remove}>
              Remove the logo
            </button>
          )}
        </div>
      )}
      <p role="status">{save.busy ? "Saving…" : status}</p>
      <ErrorNote error={save.error} />
    </section>
  );
}

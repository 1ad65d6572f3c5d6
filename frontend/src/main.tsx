// The app's entry: restores the session from the refresh cookie, then
// routes to the page for the address.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { AuthContext, loadMe, type Me } from "./auth";
import { onSessionChange, refresh, signedIn } from "./api/session";
import { match, navigate, useLocation } from "./router";
import { Layout } from "./ui/Layout";
import { Loading } from "./ui/common";
import { LoginPage, SignupPage, InvitePage } from "./pages/Auth";
import { JobsPage } from "./pages/Jobs";
import { JobPage } from "./pages/Job";
import { ReviewPage } from "./pages/Review";
import { SettingsPage } from "./pages/Settings";
import { MembersPage } from "./pages/Members";
import { SpeakersPage } from "./pages/Speakers";
import { BatchesPage } from "./pages/Batches";
import { BatchPage } from "./pages/Batch";
import { JoinPage } from "./pages/Join";
import { FleetPage } from "./pages/Fleet";
import "./styles.css";

/** The pages anyone may open; every other page but the fleet needs a session. */
const PUBLIC = ["/login", "/signup", "/invite"];
/** The operator's page: its own token, with or without a session (in the frame when signed in). */
const FLEET = "/fleet";

function App() {
  const { path, query } = useLocation();
  const [me, setMe] = useState<Me | null>(null);
  const [booting, setBooting] = useState(true);

  const reload = async () => {
    setMe(signedIn() ? await loadMe() : null);
  };

  useEffect(() => {
    // A page load has no access token: the refresh cookie (if any) gets one.
    refresh()
      .then(reload)
      .catch(() => setMe(null))
      .finally(() => setBooting(false));
    return onSessionChange(() => {
      reload().catch(() => setMe(null));
    });
  }, []);

  if (booting) return <Loading what="Cutroom" />;

  if (!me) {
    if (path === "/signup") return <SignupPage />;
    if (path === "/invite") return <InvitePage token={query.get("token") ?? ""} />;
    if (path === FLEET)
      return (
        <main id="main">
          <FleetPage />
        </main>
      );
    if (path !== "/login") {
      const next = path === "/" ? "" : `?next=${encodeURIComponent(path + location.search)}`;
      navigate(`/login${next}`, { replace: true });
    }
    return <LoginPage next={query.get("next")} />;
  }
  // An invitation link opened while signed in joins with this account.
  if ((PUBLIC.includes(path) && path !== "/invite") || path === "/") {
    const next = query.get("next");
    navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/jobs", { replace: true });
    return null;
  }

  let page;
  let m;
  if (path === "/jobs") page = <JobsPage />;
  else if ((m = match("/jobs/:id", path))) page = <JobPage id={m.id!} />;
  else if (path === "/batches") page = <BatchesPage />;
  else if ((m = match("/batches/:id", path))) page = <BatchPage id={m.id!} />;
  else if (path === "/review") page = <ReviewPage />;
  else if ((m = match("/settings/:tab", path)) || path === "/settings") page = <SettingsPage tab={m?.tab ?? "keys"} />;
  else if (path === "/members") page = <MembersPage />;
  else if (path === "/speakers") page = <SpeakersPage />;
  else if (path === "/invite") page = <JoinPage token={query.get("token") ?? ""} />;
  else if (path === FLEET) page = <FleetPage />;
  else
    page = (
      <>
        <h1>Not found</h1>
        <p>There is no page at {path}.</p>
      </>
    );

  return (
    <AuthContext.Provider value={{ me, reload }}>
      {/* Keyed by tenant: switching tenants starts every page afresh. */}
      <Layout key={me.tenant.id}>{page}</Layout>
    </AuthContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);

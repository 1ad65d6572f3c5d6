// Sign in, sign up and joining by invitation.

import { useState } from "preact/hooks";
import { acceptInvite, login, signup } from "../auth";
import { Link, navigate } from "../router";
import { ErrorNote, PageTitle } from "../ui/common";

function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}

const value = (e: Event) => (e.target as HTMLInputElement).value;

export function LoginPage({ next }: { next: string | null }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, onSubmit } = useSubmit(() => login(email.trim(), password));
  return (
    <main id="main" class="narrow">
      <PageTitle title="Log in">Log in to Cutroom</PageTitle>
      <form onSubmit={onSubmit}>
        <label>
          Email
          <input type="email" autoComplete="username" required value={email} onInput={(e) => setEmail(value(e))} />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(value(e))}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        New here? <Link href={`/signup${next ? `?next=${encodeURIComponent(next)}` : ""}`}>Create an organisation</Link>
      </p>
      <p class="muted small">
        <Link href="/fleet">Operators: the fleet</Link>
      </p>
    </main>
  );
}

export function SignupPage() {
  const [form, setForm] = useState({ name: "", email: "", password: "", tenant_name: "" });
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: value(e) });
  const { busy, error, onSubmit } = useSubmit(() => signup({ ...form, email: form.email.trim() }));
  return (
    <main id="main" class="narrow">
      <PageTitle title="Sign up">Create your organisation</PageTitle>
      <form onSubmit={onSubmit}>
        <label>
          Your name
          <input autoComplete="name" required value={form.name} onInput={set("name")} />
        </label>
        <label>
          Email
          <input type="email" autoComplete="username" required value={form.email} onInput={set("email")} />
        </label>
        <label>
          Password <span class="hint">(at least 8 characters)</span>
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            value={form.password}
            onInput={set("password")}
          />
        </label>
        <label>
          Organisation
          <input autoComplete="organization" required value={form.tenant_name} onInput={set("tenant_name")} />
        </label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Sign up"}
        </button>
      </form>
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </main>
  );
}

export function InvitePage({ token }: { token: string }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const { busy, error, onSubmit } = useSubmit(async () => {
    await acceptInvite({ token, name, password });
    // Signed in now: off the link, which would offer to join again.
    navigate("/jobs", { replace: true });
  });
  if (!token)
    return (
      <main id="main" class="narrow">
        <PageTitle title="Invitation">Invitation</PageTitle>
        <p class="error" role="alert">
          This link has no invitation token. Open the link from your invitation exactly as it was sent.
        </p>
      </main>
    );
  return (
    <main id="main" class="narrow">
      <PageTitle title="Join">Join your team on Cutroom</PageTitle>
      <p>If you already have an account, give its password; otherwise choose one.</p>
      <form onSubmit={onSubmit}>
        <label>
          Your name
          <input autoComplete="name" required value={name} onInput={(e) => setName(value(e))} />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            value={password}
            onInput={(e) => setPassword(value(e))}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Joining…" : "Join"}
        </button>
      </form>
    </main>
  );
}

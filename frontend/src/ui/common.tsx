// Small pieces every page uses: error banners, loading states, page titles.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client";

/** A failure, said plainly, in a live region so screen readers hear it. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : null;
  return (
    <p class="error" role="alert">
      {text}
      {code && <span class="code"> ({code})</span>}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** Sets the document title and renders the page heading. */
export function PageTitle({ children, title }: { children: ComponentChildren; title: string }) {
  useEffect(() => {
    document.title = `${title} · Cutroom`;
  }, [title]);
  return <h1>{children}</h1>;
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (f: (old: T | undefined) => T | undefined) => void;
}

/** Runs `load` when `deps` change; the page renders from what it returns. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(null);
      })
      .catch((e) => live && setError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, error, loading, reload: () => setTick((t) => t + 1), set: (f) => setData(f) };
}

/** Copies text and says so; falls back to selecting it when the clipboard is not allowed. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="secondary"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 2000);
        } catch {
          prompt("Copy this:", text);
        }
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status.replace(/_/g, " ")}</span>;
}

/**
 * Newer/Older buttons over a cursor-paged list whose cursor is in the
 * address: Newer goes back in history, Older follows `next`.
 */
export function Pager({ cursor, next, onOlder }: { cursor?: string; next?: string | null; onOlder: (c: string) => void }) {
  return (
    <nav class="pager" aria-label="Pages">
      {cursor && (
        <button type="button" class="secondary" onClick={() => history.back()}>
          Newer
        </button>
      )}
      {next && (
        <button type="button" class="secondary" onClick={() => onOlder(next)}>
          Older
        </button>
      )}
    </nav>
  );
}

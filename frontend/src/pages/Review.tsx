// The review queue: text on which moderation fired, and reviewers'
// decisions. Everyone in the tenant reads it; members and up decide (the
// API's `require_write`), and a flag can be decided again.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, must, type Schemas } from "../api/client";
import { atLeast, useAuth } from "../auth";
import { clock, when } from "../format";
import { Link, navigateWith, useLocation } from "../router";
import { ErrorNote, Loading, PageTitle, Pager, StatusBadge, useLoad } from "../ui/common";
import "./admin.css";

type Flag = Schemas["Flag"];
type Verdict = Schemas["Verdict"];
/** The spec types `scores` and `fired` as bare objects; review.rs documents their fields. */
interface Score {
  category: string;
  score: number;
}
interface Fired extends Score {
  threshold: number;
  action: string;
}
interface Outcome {
  busy?: boolean;
  message?: string;
  error?: unknown;
}

const STATUSES = ["open", "approved", "rejected", "all"] as const;
type StatusFilter = (typeof STATUSES)[number];
const PAGE = 20;

export function ReviewPage() {
  const { me } = useAuth();
  const canDecide = atLeast(me, "member");
  const { query } = useLocation();
  const asked = query.get("status");
  const status: StatusFilter = STATUSES.find((s) => s === asked) ?? "open";
  const cursor = query.get("cursor") ?? undefined;
  const job = query.get("job") ?? undefined;
  const page = useLoad(
    async () =>
      must(await api.GET("/v1/review", { params: { query: { status, cursor, job_id: job, limit: PAGE } } })),
    [status, cursor, job],
  );
  const items = page.data?.items ?? [];
  const [selected, setSelected] = useState(0);
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [outcomes, setOutcomes] = useState<Record<string, Outcome>>({});
  const [help, setHelp] = useState(false);
  const inFlight = useRef(new Set<string>());
  const sel = Math.min(selected, items.length - 1);

  useEffect(() => setSelected(0), [status, cursor, job]);

  const go = (params: Record<string, string | undefined>) => navigateWith("/review", params);

  const decide = async (f: Flag, verdict: Verdict) => {
    if (!canDecide || inFlight.current.has(f.id)) return;
    inFlight.current.add(f.id);
    const before = f.status;
    setOutcomes((o) => ({ ...o, [f.id]: { busy: true } }));
    try {
      const note = notes[f.id]?.trim() || null;
      const done = must(
        await api.POST("/v1/review/{id}", { params: { path: { id: f.id } }, body: { decision: verdict, note } }),
      );
      page.set((old) => old && { ...old, items: old.items.map((x) => (x.id === f.id ? done : x)) });
      setNotes((n) => ({ ...n, [f.id]: "" }));
      const message =
        verdict === "reject"
          ? "Rejected: what it holds stays held."
          : `Approved. ${before === "approved" ? "" : await released(done)}`;
      setOutcomes((o) => ({ ...o, [f.id]: { message } }));
    } catch (error) {
      setOutcomes((o) => ({ ...o, [f.id]: { error } }));
    } finally {
      inFlight.current.delete(f.id);
    }
  };

  const select = (i: number) => {
    const f = items[i];
    if (!f) return;
    setSelected(i);
    const el = document.querySelector<HTMLElement>(`article.flag[data-flag="${f.id}"]`);
    el?.focus();
    el?.scrollIntoView({ block: "nearest" });
  };

  // The listener stays; the handler it calls sees this render's state.
  const onKey = useRef<(e: KeyboardEvent) => void>(() => undefined);
  onKey.current = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    const f = items[sel];
    const act = () => e.preventDefault();
    switch (e.key) {
      case "j":
      case "ArrowDown":
        act();
        select(Math.min(sel + 1, items.length - 1));
        break;
      case "k":
      case "ArrowUp":
        act();
        select(Math.max(sel - 1, 0));
        break;
      case "a":
      case "r":
        if (!f) return;
        act();
        void decide(f, e.key === "a" ? "approve" : "reject");
        break;
      case "n":
        if (!f || !canDecide) return;
        act();
        document.getElementById(`note-${f.id}`)?.focus();
        break;
      case "?":
        act();
        setHelp((h) => !h);
        break;
    }
  };
  useEffect(() => {
    const f = (e: KeyboardEvent) => onKey.current(e);
    document.addEventListener("keydown", f);
    return () => document.removeEventListener("keydown", f);
  }, []);

  return (
    <>
      <PageTitle title="Review">Review queue</PageTitle>
      <p class="muted">
        Text on which the moderation policy fired. While a flag is open or rejected, the highlights and clips it
        touches are held; approving it releases them.
      </p>
      {!canDecide && (
        <p class="notice">
          You are a viewer: you can read the queue, but only members, admins and owners approve or reject flags.
        </p>
      )}
      <details class="shortcuts" open={help} onToggle={(e) => setHelp((e.target as HTMLDetailsElement).open)}>
        <summary>Keyboard shortcuts</summary>
        <dl>
          <dt>
            <kbd>j</kbd> or <kbd>↓</kbd>
          </dt>
          <dd>next flag</dd>
          <dt>
            <kbd>k</kbd> or <kbd>↑</kbd>
          </dt>
          <dd>previous flag</dd>
          <dt>
            <kbd>a</kbd>
          </dt>
          <dd>approve the selected flag (with its note)</dd>
          <dt>
            <kbd>r</kbd>
          </dt>
          <dd>reject the selected flag (with its note)</dd>
          <dt>
            <kbd>n</kbd>
          </dt>
          <dd>write a note on the selected flag</dd>
          <dt>
            <kbd>Esc</kbd>
          </dt>
          <dd>leave the note field, so the shortcuts work again</dd>
          <dt>
            <kbd>?</kbd>
          </dt>
          <dd>show or hide this list</dd>
        </dl>
        <p class="small muted">Shortcuts do nothing while you type in a field.</p>
      </details>

      <section aria-labelledby="flag-list">
        <div class="row">
          <h2 id="flag-list">{status === "all" ? "All flags" : `${cap(status)} flags`}</h2>
          <div class="filters">
            <label class="inline-label">
              Status
              <select value={status} onChange={(e) => go({ status: (e.target as HTMLSelectElement).value, job })}>
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
          </div>
        </div>
        {job && (
          <p>
            Flags of <Link href={`/jobs/${job}`}>job {job.slice(0, 8)}</Link> only.{" "}
            <button type="button" class="link" onClick={() => go({ status })}>
              Show every job’s flags
            </button>
          </p>
        )}
        <ErrorNote error={page.error} />
        {page.loading && !page.data && <Loading what="flags" />}
        {page.data && items.length === 0 && (
          <p class="muted">{status === "open" ? "Nothing to review: no open flags." : `No ${status} flags.`}</p>
        )}
        {items.length > 0 && (
          <ol class="flags">
            {items.map((f, i) => (
              <li key={f.id}>
                <FlagCard
                  flag={f}
                  selected={i === sel}
                  canDecide={canDecide}
                  note={notes[f.id] ?? ""}
                  onNote={(text) => setNotes((n) => ({ ...n, [f.id]: text }))}
                  outcome={outcomes[f.id] ?? {}}
                  onDecide={(v) => void decide(f, v)}
                  onSelect={() => i !== sel && setSelected(i)}
                />
              </li>
            ))}
          </ol>
        )}
        <Pager cursor={cursor} next={page.data?.next_cursor} onOlder={(c) => go({ status, job, cursor: c })} />
      </section>
    </>
  );
}

function FlagCard(props: {
  flag: Flag;
  selected: boolean;
  canDecide: boolean;
  note: string;
  onNote: (text: string) => void;
  outcome: Outcome;
  onDecide: (v: Verdict) => void;
  onSelect: () => void;
}) {
  const { flag: f, outcome } = props;
  const fired = f.fired as unknown as Fired[];
  const scores = (f.scores as unknown as Score[]).slice().sort((a, b) => b.score - a.score);
  const heading = `flag-${f.id}`;
  return (
    <article
      class={`flag${props.selected ? " selected" : ""}`}
      data-flag={f.id}
      data-status={f.status}
      tabIndex={-1}
      aria-labelledby={heading}
      aria-current={props.selected ? "true" : undefined}
      onFocusCapture={props.onSelect}
      onClick={props.onSelect}
    >
      <div class="meta">
        <h3 id={heading}>
          {f.kind === "highlight" ? `Highlight #${f.segment}` : f.kind === "edit" ? "Corrected transcript line" : "Transcript line"}, {clock(f.start)}–{clock(f.end)}
        </h3>
        <StatusBadge status={f.status} />
        <span class={`badge status-${f.action}`}>{f.action === "block" ? "blocked" : "flagged"}</span>
      </div>
      <blockquote>
        {f.speaker && <strong>{f.speaker}: </strong>}
        {f.text}
      </blockquote>
      <div class="meta small">
        <Link href={`/jobs/${f.job_id}`}>Job {f.job_id.slice(0, 8)}</Link>
        <span>Raised {when(f.created_at)}</span>
        {f.decided_at && <span>Last decided {when(f.decided_at)}</span>}
      </div>
      <p class="small">
        Fired:{" "}
        {fired.length
          ? fired.map((r, i) => (
              <span key={r.category}>
                {i > 0 && "; "}
                <strong>{r.category}</strong> {r.score.toFixed(2)} ≥ {r.threshold.toFixed(2)} ({r.action})
              </span>
            ))
          : f.categories.join(", ")}
      </p>
      {scores.length > 0 && (
        <ul class="scores small" aria-label="Scores by category">
          {scores.map((s) => (
            <li key={s.category} class={f.categories.some((c) => c === s.category) ? "fired" : undefined}>
              {s.category} {s.score.toFixed(2)}
            </li>
          ))}
        </ul>
      )}
      {props.canDecide && (
        <div class="decide">
          <label for={`note-${f.id}`}>Note</label>
          <textarea
            id={`note-${f.id}`}
            aria-label="Note"
            aria-describedby={`note-hint-${f.id}`}
            maxLength={2000}
            rows={2}
            value={props.note}
            onInput={(e) => props.onNote((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") (e.target as HTMLElement).closest<HTMLElement>("article")?.focus();
            }}
          />
          <span id={`note-hint-${f.id}`} class="muted small">
            Optional: why, for the audit trail.
          </span>
          <div class="actions">
            <button type="button" disabled={outcome.busy} onClick={() => props.onDecide("approve")}>
              Approve
            </button>
            <button type="button" class="danger" disabled={outcome.busy} onClick={() => props.onDecide("reject")}>
              Reject
            </button>
          </div>
        </div>
      )}
      <p role="status" class="small">
        {outcome.busy ? "Saving the decision…" : (outcome.message ?? "")}
      </p>
      <ErrorNote error={outcome.error} />
    </article>
  );
}

/**
 * What an approval released. The decision's answer does not say, so the
 * job's highlights are read again: those this flag touched (the rule of
 * `queries::clips::holds`) are ready now unless another flag holds them.
 */
async function released(f: Flag): Promise<string> {
  // A correction's flag holds only the re-rendered clips captioned with it.
  if (f.kind === "edit") return "Re-rendered clips showing this text are released unless another flag holds them.";
  try {
    const { items } = must(await api.GET("/v1/jobs/{id}/highlights", { params: { path: { id: f.job_id } } }));
    const touched = items.filter((h) =>
      f.kind === "highlight" ? h.rank === f.segment : f.start < h.end && h.start < f.end,
    );
    if (touched.length === 0) return "It held no highlight or clip.";
    const free = touched.filter((h) => h.status === "ready").map((h) => `#${h.rank}`);
    const held = touched.filter((h) => h.status === "held").map((h) => `#${h.rank}`);
    return [
      free.length ? `Clips released: highlight ${free.join(", ")} can be published.` : "",
      held.length ? `Still held by other flags: highlight ${held.join(", ")}.` : "",
    ]
      .filter(Boolean)
      .join(" ");
  } catch {
    return "The clips it held are released unless another flag holds them too.";
  }
}

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

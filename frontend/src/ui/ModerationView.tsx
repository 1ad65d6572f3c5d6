// The job's moderation: what the report says was scored, and each flag
// with its text, the rules that fired and every category's score, in its
// review state now. Decisions are made on the review page.

import { useState } from "preact/hooks";
import { api, must } from "../api/client";
import { clock, percent } from "../format";
import { Link } from "../router";
import { ErrorNote, Loading, StatusBadge, useLoad } from "./common";
import { span, useOutput, type CategoryScore, type Fired, type Flag, type Job, type ModerationReport } from "./jobOutputs";

interface Props {
  job: Job;
  /** Bumped when the job's results may have changed. */
  gen: number;
  live: boolean;
  canReview: boolean;
  onTime: (t: number) => void;
}

const PAGE = 100;

export function ModerationView({ job, gen, live, canReview, onTime }: Props) {
  const report = useOutput<ModerationReport>(job, "moderation.json");
  const [more, setMore] = useState<{ items: Flag[]; next: string | null } | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const flags = useLoad(async () => {
    setMore(null);
    return must(
      await api.GET("/v1/review", { params: { query: { job_id: job.id, status: "all", limit: PAGE } } }),
    );
  }, [job.id, gen]);

  const items = [...(flags.data?.items ?? []), ...(more?.items ?? [])];
  const next = more ? more.next : (flags.data?.next_cursor ?? null);
  const loadMore = async () => {
    if (!next) return;
    try {
      const page = must(
        await api.GET("/v1/review", { params: { query: { job_id: job.id, status: "all", limit: PAGE, cursor: next } } }),
      );
      setMore((m) => ({ items: [...(m?.items ?? []), ...page.items], next: page.next_cursor ?? null }));
    } catch (e) {
      setMoreError(e);
    }
  };
  const open = items.filter((f) => f.status === "open").length;
  const r = report.data;

  return (
    <section aria-labelledby="moderation-h">
      <h2 id="moderation-h">Moderation</h2>
      <ErrorNote error={report.error} />
      {r && <ReportLine r={r} />}
      {!r && !report.loading && !flags.loading && items.length === 0 && (
        <p class="muted">{live ? "Moderation runs after transcription." : "This job has no moderation report."}</p>
      )}
      {flags.loading && !flags.data && <Loading what="the flags" />}
      <ErrorNote error={flags.error} />
      {flags.data && r?.status === "ok" && items.length === 0 && <p>Nothing was flagged.</p>}
      {items.length > 0 && (
        <>
          <p>
            {items.length} {items.length === 1 ? "flag" : "flags"}, {open} open.{" "}
            {open > 0 && canReview && <Link href="/review">Decide them in the review queue</Link>}
          </p>
          <ul class="flags">
            {items.map((f) => (
              <FlagItem key={f.id} flag={f} onTime={onTime} />
            ))}
          </ul>
        </>
      )}
      {next && (
        <button type="button" class="secondary" onClick={loadMore}>
          More flags
        </button>
      )}
      <ErrorNote error={moreError} />
    </section>
  );
}

function ReportLine({ r }: { r: ModerationReport }) {
  const s = r.summary;
  if (r.status === "unsupported_language")
    return (
      <p class="note" role="note">
        Not checked: the classifier reads English and this job's language is {r.language ?? "unknown"}. That is
        not the same as clean.
      </p>
    );
  if (r.status === "empty") return <p class="muted">Nothing was said, so there was nothing to check.</p>;
  return (
    <>
      <p class="muted small">
        {s.segments} {s.segments === 1 ? "line" : "lines"} checked
        {s.unscored_segments > 0 && ` (${s.unscored_segments} could not be scored)`}; {s.flagged_segments} flagged
        {s.flagged_highlights > 0 && `, plus ${s.flagged_highlights} highlight titles`}
        {s.flagged_seconds > 0 && `, covering ${Math.round(s.flagged_seconds)} s`}; strongest action:{" "}
        {s.action && s.action !== "ignore" ? s.action : "none"}.
      </p>
      {r.custom && r.custom.status !== "applied" && (
        <p class="note small" role="note">
          Custom policies ({r.custom.policies.join(", ")}) were not applied
          {r.custom.message ? `: ${r.custom.message}` : " (the job has no LLM provider to judge them)."}
        </p>
      )}
    </>
  );
}

function FlagItem({ flag: f, onTime }: { flag: Flag; onTime: (t: number) => void }) {
  const fired = f.fired as unknown as Fired[];
  const scores = [...(f.scores as unknown as CategoryScore[])].sort((a, b) => b.score - a.score);
  return (
    <li class="flag card" data-flag={f.id}>
      <div class="flag-head">
        <span class={`badge status-${f.action}`}>{f.action}</span>
        <StatusBadge status={f.status} />
        <span>
          {f.kind === "highlight"
            ? `Highlight ${f.segment}'s title and hook`
            : f.kind === "edit"
              ? `Line ${f.segment} as corrected`
              : `Line ${f.segment}`}
          {f.speaker && `, ${f.speaker}`}
        </span>
        <button type="button" class="link time" aria-label={`${span(f)}: go to ${clock(f.start)}`} onClick={() => onTime(f.start)}>
          {span(f)}
        </button>
      </div>
      <blockquote>{f.text}</blockquote>
      <p class="small">
        Fired:{" "}
        {fired.map((x, i) => (
          <span key={i}>
            {i > 0 && "; "}
            <strong>{label(x.policy ?? x.category)}</strong> {x.score.toFixed(2)}
            {x.threshold != null && ` (threshold ${x.threshold.toFixed(2)})`} → {x.action}
            {x.rationale && `: ${x.rationale}`}
          </span>
        ))}
      </p>
      {scores.length > 0 && (
        <details>
          <summary class="small">All scores</summary>
          <table class="scores small">
            <thead>
              <tr>
                <th scope="col">Category</th>
                <th scope="col">Score</th>
              </tr>
            </thead>
            <tbody>
              {scores.map((s) => (
                <tr key={s.category}>
                  <td>{label(s.category)}</td>
                  <td>
                    {s.score.toFixed(2)} <span class="muted">({percent(s.score)})</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </li>
  );
}

function label(category: string): string {
  return category.replace(/_/g, " ");
}

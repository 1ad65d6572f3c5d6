// The top of the job page: its status (live), what may be done to it
// (cancel, retry, delete, as the role allows) and the facts about it.

import { useState } from "preact/hooks";
import { api, must } from "../api/client";
import { clock, when } from "../format";
import { Link, navigate } from "../router";
import { CopyButton, ErrorNote, StatusBadge } from "./common";
import { JobErrorHelp } from "./jobErrors";
import { isLive, type Job } from "./jobOutputs";

export function Status({ job: j }: { job: Job }) {
  let detail: string;
  if (j.status === "queued")
    detail = j.retry_at
      ? `Trying again at ${when(j.retry_at)}.`
      : j.waiting_for_slot
        ? "Waiting for your other running jobs: it starts when one of them ends."
        : "Waiting for a worker.";
  else if (j.status === "running") detail = `Stage: ${j.stage ?? "starting"}.`;
  else {
    const at = j.finished_at ? ` ${when(j.finished_at)}` : "";
    detail = `${j.status === "succeeded" ? "Finished" : j.status === "cancelled" ? "Cancelled" : "Failed"}${at}.`;
  }
  return (
    <div id="job-status" class={`job-status card status-box-${j.status}`} data-status={j.status}>
      <p>
        <span aria-live="polite">
          <StatusBadge status={j.status} />
        </span>{" "}
        {detail}
        {j.attempts > 1 && <span class="muted small"> (attempt {j.attempts})</span>}
      </p>
      {j.status === "running" && (
        <p class="job-progress">
          <progress max={100} value={j.progress} aria-label="Job progress">
            {j.progress} %
          </progress>{" "}
          <span>{j.progress} %</span>
        </p>
      )}
      {j.error && j.status !== "succeeded" && (
        <div class={j.status === "failed" ? "failure" : "note"} role={j.status === "failed" ? "alert" : undefined}>
          <p>
            <strong>{j.status === "failed" ? "The job failed: " : "Why: "}</strong>
            {j.error.message || "no reason was given."}
          </p>
          <p class="small">
            Error code <code>{j.error.code}</code>
          </p>
          <JobErrorHelp code={j.error.code} />
        </div>
      )}
    </div>
  );
}

interface ActionsProps {
  job: Job;
  name: string;
  canWrite: boolean;
  isAdmin: boolean;
  onJob: (job: Job, retried: boolean) => void;
}

export function Actions({ job: j, name, canWrite, isAdmin, onJob }: ActionsProps) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [stopping, setStopping] = useState(false);
  const path = { params: { path: { id: j.id } } };
  const act = async (what: string, f: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  const live = isLive(j.status);
  const canRetry = isAdmin && (j.status === "failed" || j.status === "cancelled");
  const canDelete = canWrite && j.status !== "running";
  if (!(live && canWrite) && !canRetry && !canDelete) return null;
  return (
    <div class="job-actions">
      {live && canWrite && (
        <button
          type="button"
          class="secondary"
          disabled={busy !== null || stopping}
          onClick={() =>
            act("cancel", async () => {
              const next = must(await api.POST("/v1/jobs/{id}/cancel", path));
              // A running job stops at its next checkpoint; the stream says when.
              if (next.status === "running") setStopping(true);
              onJob(next, false);
            })
          }
        >
          {stopping ? "Stopping…" : busy === "cancel" ? "Cancelling…" : "Cancel job"}
        </button>
      )}
      {canRetry && (
        <button
          type="button"
          disabled={busy !== null}
          onClick={() =>
            act("retry", async () => {
              onJob(must(await api.POST("/v1/jobs/{id}/retry", path)), true);
              setStopping(false);
            })
          }
        >
          {busy === "retry" ? "Retrying…" : "Retry job"}
        </button>
      )}
      {canDelete && (
        <button
          type="button"
          class="danger"
          disabled={busy !== null}
          onClick={() => {
            if (!confirm(`Delete “${name}” with its clips, transcript and every output? This cannot be undone.`)) return;
            void act("delete", async () => {
              must(await api.DELETE("/v1/jobs/{id}", path));
              navigate("/jobs");
            });
          }}
        >
          {busy === "delete" ? "Deleting…" : "Delete job"}
        </button>
      )}
      <ErrorNote error={error} />
    </div>
  );
}

export function Facts({ job: j }: { job: Job }) {
  const media = j.media as { duration?: number | null; container?: string } | null | undefined;
  return (
    <details class="job-facts">
      <summary>Details</summary>
      <dl class="facts">
        <dt>Source</dt>
        <dd>
          {j.source.type === "youtube" && j.source.url ? (
            <a href={j.source.url} rel="noreferrer noopener" target="_blank">
              {j.source.url}
            </a>
          ) : (
            "Uploaded file"
          )}
        </dd>
        {media?.duration != null && (
          <>
            <dt>Length</dt>
            <dd>{clock(media.duration)}</dd>
          </>
        )}
        {j.parent_id && (
          <>
            <dt>Re-render of</dt>
            <dd>
              <Link href={`/jobs/${j.parent_id}`}>the original job</Link>
            </dd>
          </>
        )}
        {(j.batch_id || j.unpacks_batch_id) && (
          <>
            <dt>{j.batch_id ? "Recording of" : "Unpacks"}</dt>
            <dd>
              <Link href={`/batches/${j.batch_id ?? j.unpacks_batch_id}`}>its batch</Link>
              {j.entry_path && (
                <>
                  {" "}
                  (<code>{j.entry_path}</code>)
                </>
              )}
            </dd>
          </>
        )}
        {j.metadata != null && (
          <>
            <dt>Metadata</dt>
            <dd>
              <code class="meta">{JSON.stringify(j.metadata)}</code>
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{when(j.created_at)}</dd>
        {j.started_at && (
          <>
            <dt>Started</dt>
            <dd>{when(j.started_at)}</dd>
          </>
        )}
        {j.finished_at && (
          <>
            <dt>Ended</dt>
            <dd>{when(j.finished_at)}</dd>
          </>
        )}
        {j.source_kept_until && (
          <>
            <dt>Source kept until</dt>
            <dd>{when(j.source_kept_until)}</dd>
          </>
        )}
        <dt>Job id</dt>
        <dd>
          <code>{j.id}</code> <CopyButton text={j.id} label="Copy id" />
        </dd>
      </dl>
    </details>
  );
}

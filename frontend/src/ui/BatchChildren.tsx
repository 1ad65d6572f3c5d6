// A batch's jobs, one per recording, a page at a time: each with its path
// in the archive, its status and its metadata row; found by status and by
// a metadata field's value. The filters and the page are in the address.

import { useState } from "preact/hooks";
import { Link, navigateWith, useLocation } from "../router";
import { compact, listChildren, type JobStatus, type JobSummary } from "./batches";
import { ErrorNote, Loading, Pager, StatusBadge, useLoad } from "./common";

const STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];

interface Props {
  id: string;
  /** Changes whenever a child may have moved: the page is read again. */
  moved: string;
}

export function BatchChildren({ id, moved }: Props) {
  const { query } = useLocation();
  const status = (query.get("status") as JobStatus | null) ?? undefined;
  const field = query.get("field") ?? undefined;
  const value = query.get("value") ?? undefined;
  const cursor = query.get("cursor") ?? undefined;
  const filtered = !!field && !!value;
  const page = useLoad(
    () => listChildren(id, { status, cursor, field, value }),
    [id, status, field, value, cursor, moved],
  );
  const go = (params: Record<string, string | undefined>) =>
    navigateWith(`/batches/${id}`, { status, field, value, ...params, cursor: params.cursor });

  return (
    <section aria-labelledby="batch-jobs">
      <h2 id="batch-jobs">Recordings</h2>
      <div class="filters">
        <label class="inline-label">
          Status
          <select value={status ?? ""} onChange={(e) => go({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <MetadataFilter
          key={`${field}=${value}`}
          field={field}
          value={value}
          onFilter={(f, v) => go({ field: f, value: v })}
        />
      </div>
      {filtered && (
        <p class="muted small">
          Newest first, whose metadata has <code>{field}</code> equal to <code>{value}</code>.
        </p>
      )}
      <ErrorNote error={page.error} />
      {page.loading && !page.data && <Loading what="the recordings" />}
      {page.data && page.data.items.length === 0 && (
        <p class="muted">{filtered || status ? "No recording matches." : "No recordings yet."}</p>
      )}
      {page.data && page.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="stack children">
            <thead>
              <tr>
                <th scope="col">Recording</th>
                <th scope="col">Status</th>
                <th scope="col">Metadata</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((j) => (
                <ChildRow job={j} key={j.id} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager cursor={cursor} next={page.data?.next_cursor} onOlder={(c) => go({ cursor: c })} />
    </section>
  );
}

function ChildRow({ job: j }: { job: JobSummary }) {
  const meta = compact(j.metadata);
  return (
    <tr data-job={j.id} data-status={j.status} data-path={j.entry_path ?? ""}>
      <td data-label="Recording">
        <Link href={`/jobs/${j.id}`} class="path">
          {j.entry_path ?? j.title ?? j.id}
        </Link>
      </td>
      <td data-label="Status">
        <StatusBadge status={j.status} />
        {j.error && <div class="muted small">{j.error.code}</div>}
      </td>
      <td data-label="Metadata">{meta ? <code class="meta">{meta}</code> : <span class="muted">none</span>}</td>
    </tr>
  );
}

interface FilterProps {
  field?: string;
  value?: string;
  onFilter: (field?: string, value?: string) => void;
}

/** A metadata field and the value it must have; both empty shows every recording. */
function MetadataFilter({ field, value, onFilter }: FilterProps) {
  const [f, setF] = useState(field ?? "");
  const [v, setV] = useState(value ?? "");
  return (
    <form
      class="inline metadata-filter"
      role="search"
      aria-label="Find by metadata"
      onSubmit={(e) => {
        e.preventDefault();
        const name = f.trim();
        onFilter(name || undefined, name ? v : undefined);
      }}
    >
      <label>
        Metadata field
        <input value={f} maxLength={128} onInput={(e) => setF((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Value
        <input value={v} required={!!f.trim()} onInput={(e) => setV((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="secondary">
        Find
      </button>
      {field && (
        <button type="button" class="secondary" onClick={() => onFilter(undefined, undefined)}>
          Show all
        </button>
      )}
    </form>
  );
}

// What a batch's unpacking and jobs left over, each part shown only when
// there is something in it: failures by code, the archive entries refused
// (and why), and the metadata rows and recordings that did not meet.

import type { Schemas } from "../api/client";

/** Longest list shown in full; the rest is counted. */
const SHOWN = 200;

export function Failures({ failures }: { failures: Record<string, number> }) {
  const codes = Object.entries(failures).sort((a, b) => b[1] - a[1]);
  if (codes.length === 0) return null;
  return (
    <section aria-labelledby="batch-failures">
      <h2 id="batch-failures">Failures</h2>
      <table class="compact failures">
        <thead>
          <tr>
            <th scope="col">Error code</th>
            <th scope="col">Jobs</th>
          </tr>
        </thead>
        <tbody>
          {codes.map(([code, n]) => (
            <tr key={code} data-code={code}>
              <td>
                <code>{code}</code>
              </td>
              <td>{n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function Refused({ refused }: { refused: Schemas["Refused"][] }) {
  if (refused.length === 0) return null;
  return (
    <section aria-labelledby="batch-refused">
      <h2 id="batch-refused">Refused entries</h2>
      <p class="muted">
        {refused.length} {refused.length === 1 ? "entry was" : "entries were"} not used: files of the archive, or
        manifest rows (<code>file#row</code>) whose link is not accepted.
      </p>
      <div class="table-wrap">
        <table class="stack refused">
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">Reason</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {refused.slice(0, SHOWN).map((r, i) => (
              <tr key={i} data-path={r.path} data-reason={r.reason}>
                <td data-label="Path">
                  <code class="path">{r.path}</code>
                </td>
                <td data-label="Reason">{r.reason.replace(/_/g, " ")}</td>
                <td data-label="Detail">{r.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <More of={refused.length} />
    </section>
  );
}

interface UnmatchedProps {
  unmatched: Schemas["Unmatched"];
  keyColumn: string;
  /** Before unpacking nothing is known to be unmatched. */
  unpacked: boolean;
}

export function Unmatched({ unmatched: u, keyColumn, unpacked }: UnmatchedProps) {
  const files = u.files_without_rows ?? [];
  const rows = u.rows_without_files ?? [];
  const keyless = u.rows_without_key ?? [];
  const duplicates = u.duplicate_keys ?? [];
  if (!unpacked) return null;
  const none = files.length + rows.length + keyless.length + duplicates.length === 0;
  return (
    <section aria-labelledby="batch-unmatched">
      <h2 id="batch-unmatched">Metadata</h2>
      {none ? (
        <p class="muted">Every recording had its row, and every row its recording.</p>
      ) : (
        <>
          {files.length > 0 && (
            <>
              <h3 id="files-without-rows">Recordings without a row ({files.length})</h3>
              <p class="muted small">
                No <code>{keyColumn}</code> names them; their jobs run without metadata.
              </p>
              <ul class="paths" aria-labelledby="files-without-rows">
                {files.slice(0, SHOWN).map((f) => (
                  <li key={f}>
                    <code class="path">{f}</code>
                  </li>
                ))}
              </ul>
              <More of={files.length} />
            </>
          )}
          <Rows id="rows-without-files" title="Rows without a recording" rows={rows} />
          <Rows id="rows-without-key" title={`Rows without a ${keyColumn}`} rows={keyless} />
          <Rows id="duplicate-keys" title="Rows repeating an earlier key (not used)" rows={duplicates} />
        </>
      )}
    </section>
  );
}

function Rows({ id, title, rows }: { id: string; title: string; rows: Schemas["RowAt"][] }) {
  if (rows.length === 0) return null;
  return (
    <>
      <h3 id={id}>
        {title} ({rows.length})
      </h3>
      <div class="table-wrap">
        <table class="stack compact" aria-labelledby={id}>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Metadata file</th>
              <th scope="col">Row index</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, SHOWN).map((r) => (
              <tr key={`${r.file}:${r.row}`} data-key={r.key ?? ""}>
                <td data-label="Key">{r.key != null ? <code>{r.key}</code> : <span class="muted">none</span>}</td>
                <td data-label="Metadata file">
                  <code class="path">{r.file}</code>
                </td>
                <td data-label="Row index">{r.row}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <More of={rows.length} />
    </>
  );
}

function More({ of }: { of: number }) {
  return of > SHOWN ? <p class="muted small">…and {of - SHOWN} more.</p> : null;
}

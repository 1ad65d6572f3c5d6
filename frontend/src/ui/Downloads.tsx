// Every file of the job: its outputs (transcripts, edit decision lists,
// reports) and the files of the clips moderation lets through. The links
// are presigned and expire; reading the job again renews them.

import { bytes, when } from "../format";
import type { Schemas } from "../api/client";
import { isLive, type ClipView, type Job } from "./jobOutputs";

type Output = Schemas["Output"];

const GROUPS: { title: string; names: string[] }[] = [
  { title: "Transcript", names: ["transcript.srt", "transcript.vtt", "transcript.json"] },
  { title: "Edit decision lists", names: ["highlights.edl", "tightened.edl", "edit.otio"] },
];

interface Props {
  job: Job;
  clips: ClipView[];
  onRenew: () => void;
}

export function Downloads({ job, clips, onRenew }: Props) {
  const grouped = new Set(GROUPS.flatMap((g) => g.names));
  const byName = new Map(job.outputs.map((o) => [o.name, o]));
  const rest = job.outputs.filter((o) => !grouped.has(o.name)).sort((a, b) => a.name.localeCompare(b.name));
  const clipFiles = clips.flatMap((c) => c.files.filter((f) => f.url));
  const held = clips.filter((c) => c.status === "held");
  const expiries = [...job.outputs.map((o) => o.url_expires_at), ...clipFiles.map((f) => f.url_expires_at ?? "")]
    .filter(Boolean)
    .sort();
  const nothing = job.outputs.length === 0 && clipFiles.length === 0;

  return (
    <section aria-labelledby="downloads-h">
      <h2 id="downloads-h">Downloads</h2>
      {nothing ? (
        <p class="muted">{isLive(job.status) ? "No files yet." : "This job made no files."}</p>
      ) : (
        <>
          {expiries[0] && (
            <p class="muted small">
              These links work until {when(expiries[0])}.{" "}
              <button type="button" class="link" onClick={onRenew}>
                Renew the links
              </button>
            </p>
          )}
          <div class="downloads">
            {GROUPS.map((g) => {
              const files = g.names.map((n) => byName.get(n)).filter((o): o is Output => !!o);
              return files.length > 0 && <FileGroup key={g.title} title={g.title} files={files} />;
            })}
            {clipFiles.length > 0 && (
              <FileGroup
                title="Clips"
                files={clipFiles.map((f) => ({ name: f.name, url: f.url!, size_bytes: f.size_bytes }))}
              />
            )}
            {rest.length > 0 && <FileGroup title="Reports and data" files={rest} />}
          </div>
          {!byName.has("edit.otio") && !byName.has("highlights.edl") && job.status === "succeeded" && (
            <p class="muted small">No edit decision lists: they are made with the clips.</p>
          )}
          {byName.has("edit.otio") && (
            <p class="muted small">
              No FCPXML is made: edit.otio (OpenTimelineIO) converts to it with OpenTimelineIO's FCPXML adapter,
              and the EDLs import into most editors.
            </p>
          )}
          {held.length > 0 && (
            <p class="muted small">
              The files of {held.length === 1 ? `clip ${held[0]!.index} are` : `clips ${held.map((c) => c.index).join(", ")} are`}{" "}
              held by moderation until a reviewer approves them.
            </p>
          )}
        </>
      )}
    </section>
  );
}

function FileGroup({ title, files }: { title: string; files: { name: string; url: string; size_bytes: number }[] }) {
  return (
    <div>
      <h3>{title}</h3>
      <ul class="files">
        {files.map((f) => (
          <li key={f.name}>
            <a download href={f.url}>
              {f.name}
            </a>{" "}
            <span class="muted small">{bytes(f.size_bytes)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

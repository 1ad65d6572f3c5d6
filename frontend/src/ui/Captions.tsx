// Captions of the transcript as it is now: corrected lines, and each cue
// led by the speaker library's name for its voice (the job's own
// transcript.srt/.vtt keep what was known when it ran).

import { authedFetch, problem } from "../api/client";
import { useAction } from "../pages/settings/parts";
import { ErrorNote } from "./common";

export function CaptionLinks({ jobId }: { jobId: string }) {
  const act = useAction();
  const fetchCaptions = (format: "srt" | "vtt") =>
    act.run(async () => {
      const r = await authedFetch(new Request(`/v1/jobs/${jobId}/transcript/captions?format=${format}`));
      if (!r.ok) {
        const body: unknown = await r.json().catch(() => undefined);
        throw problem(body, r);
      }
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `transcript-${jobId.slice(0, 8)}.${format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  return (
    <div class="actions small captions">
      <span class="muted">Captions with the speakers' names, as corrected:</span>
      {(["srt", "vtt"] as const).map((f) => (
        <button
          key={f}
          type="button"
          class="link"
          disabled={act.busy}
          aria-label={`Download the captions as ${f.toUpperCase()}`}
          onClick={() => void fetchCaptions(f)}
        >
          {f.toUpperCase()}
        </button>
      ))}
      <ErrorNote error={act.error} />
    </div>
  );
}

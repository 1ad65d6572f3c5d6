// The job page: live status while the job runs, then what it made — the
// clips, the timeline picture, the summary, the editable transcript, the
// moderation flags and every file — each section loading on its own.
//
// There is no player of the whole source (originals are deleted once
// processed), so a time picked anywhere plays the clip that holds it, if
// one does, and always marks the line in the transcript.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, must } from "../api/client";
import { follow } from "../api/live";
import { atLeast, useAuth } from "../auth";
import { clock } from "../format";
import { Link } from "../router";
import { AnalysisView } from "../ui/AnalysisView";
import { ClipGrid } from "../ui/ClipGrid";
import { ErrorNote, Loading, PageTitle, useLoad } from "../ui/common";
import { Downloads } from "../ui/Downloads";
import { JobCost } from "../ui/JobCost";
import { KeyRefusedNote, type KeyRefused } from "../ui/jobErrors";
import { Actions, Facts, Status } from "../ui/JobHeader";
import { JobSpeakers } from "../ui/JobSpeakers";
import {
  clipTime,
  isLive,
  useOutput,
  type AnalysisReport,
  type ClipManifest,
  type Job,
  type JobStatus,
  type LoudnessReport,
  type SilenceReport,
} from "../ui/jobOutputs";
import { ModerationView } from "../ui/ModerationView";
import { RerenderSection } from "../ui/RerenderForm";
import { TimelineSection } from "../ui/Timeline";
import { TranscriptView } from "../ui/TranscriptView";
import "./job.css";

export function JobPage({ id }: { id: string }) {
  // Keyed: another job's page starts from nothing rather than showing this one's.
  return <JobView key={id} id={id} />;
}

type EndData = { status: JobStatus | "deleted"; error: Job["error"] };
type ProgressData = { status: JobStatus; stage: string | null; progress: number };

function JobView({ id }: { id: string }) {
  const { me } = useAuth();
  const canWrite = atLeast(me, "member");
  // Bumped whenever the job's results may have changed (it ended, or was
  // retried): every section reads again.
  const [gen, setGen] = useState(0);
  const [deleted, setDeleted] = useState(false);
  // Cloud engines that refused the tenant's key while this page watched.
  const [keyRefused, setKeyRefused] = useState<KeyRefused[]>([]);
  const path = { params: { path: { id } } };
  const job = useLoad(async () => must(await api.GET("/v1/jobs/{id}", path)), [id]);
  const transcript = useLoad(async () => must(await api.GET("/v1/jobs/{id}/transcript", path)), [id, gen]);
  const clips = useLoad(async () => must(await api.GET("/v1/jobs/{id}/clips", path)), [id, gen]);
  const highlights = useLoad(async () => must(await api.GET("/v1/jobs/{id}/highlights", path)), [id, gen]);
  const analysis = useOutput<AnalysisReport>(job.data, "analysis.json");
  const loudness = useOutput<LoudnessReport>(job.data, "loudness.json");
  const silences = useOutput<SilenceReport>(job.data, "silences.json");
  const manifest = useOutput<ClipManifest>(job.data, "clips.json");

  const live = isLive(job.data?.status);
  // Open from the moment the job is seen queued or running until `end`:
  // a `progress` event may say `succeeded` before the `end` that follows.
  const [streaming, setStreaming] = useState(false);
  useEffect(() => {
    if (live) setStreaming(true);
  }, [live]);
  useEffect(() => {
    if (!streaming) return;
    // The stream replays the stored history first; a `progress` follows it.
    let caughtUp = false;
    return follow(`/v1/jobs/${id}/events`, ({ event, data }) => {
      if (event === "stage_started" && caughtUp) {
        // The stage before has finished: the transcript and highlights are
        // stored as their stages end (the files only once the job ends).
        transcript.reload();
        highlights.reload();
      } else if (event === "engine_key_refused") {
        // A stored event: its `data` says which engine, with what status.
        const d = (data as { data?: KeyRefused | null } | null)?.data;
        if (d?.engine) setKeyRefused((old) => (old.some((r) => r.engine === d.engine) ? old : [...old, d]));
      } else if (event === "progress") {
        caughtUp = true;
        const p = data as ProgressData;
        job.set((old) => old && { ...old, status: p.status, stage: p.stage, progress: p.progress });
      } else if (event === "end") {
        const e = data as EndData;
        setStreaming(false);
        if (e.status === "deleted") {
          setDeleted(true);
          return;
        }
        const status = e.status;
        job.set((old) => old && { ...old, status, error: e.error });
        // The outputs and their links come with the job; the rest by `gen`.
        job.reload();
        setGen((g) => g + 1);
      }
    });
  }, [id, streaming]);

  const players = useRef(new Map<number, HTMLVideoElement>());
  const active = useRef<number | null>(null);
  const [picked, setPicked] = useState<{ t: number; n: number } | null>(null);
  const [note, setNote] = useState<{ text: string; clip?: number } | null>(null);

  const goTo = (t: number) => {
    setPicked((p) => ({ t, n: (p?.n ?? 0) + 1 }));
    const holding = (clips.data?.items ?? []).filter((c) => t >= c.start && t < c.end && players.current.has(c.index));
    const clip = holding.find((c) => c.index === active.current) ?? holding[0];
    const video = clip && players.current.get(clip.index);
    if (!clip || !video) {
      setNote({ text: `No clip holds ${clock(t)}, so the line is marked in the transcript.` });
      return;
    }
    active.current = clip.index;
    video.currentTime = clipTime(clip, t);
    void video.play().catch(() => undefined);
    setNote({ text: `Playing clip ${clip.index} from ${clock(t)}.`, clip: clip.index });
  };

  const showClip = (index: number) => {
    const card = document.querySelector<HTMLElement>(`article.clip[data-clip="${index}"]`);
    if (!card) return;
    card.scrollIntoView({ block: "start", behavior: "smooth" });
    (card.querySelector("video") ?? card).focus({ preventScroll: true });
  };

  const showHighlight = (rank: number) => {
    const clip = clips.data?.items.find((c) => c.highlight_rank === rank);
    if (clip) return showClip(clip.index);
    const h = highlights.data?.items.find((x) => x.rank === rank);
    if (!h) return;
    setPicked((p) => ({ t: h.start, n: (p?.n ?? 0) + 1 }));
    setNote({ text: `Highlight ${rank} was not made into a clip; its first line is marked in the transcript.` });
  };

  if (deleted)
    return (
      <>
        <PageTitle title="Job deleted">Job deleted</PageTitle>
        <p>
          This job was deleted. <Link href="/jobs">Back to the jobs</Link>
        </p>
      </>
    );
  const j = job.data;
  if (!j)
    return (
      <>
        <PageTitle title="Job">Job</PageTitle>
        {job.loading ? <Loading what="the job" /> : <ErrorNote error={job.error} />}
        <p>
          <Link href="/jobs">Back to the jobs</Link>
        </p>
      </>
    );

  const name = j.title ?? j.source.url ?? "Job";
  const media = j.media as { duration?: number | null } | null | undefined;
  const renew = () => {
    job.reload();
    clips.reload();
  };
  return (
    <div class="job-page">
      <p class="small crumbs">
        <Link href="/jobs">Jobs</Link> › <span class="muted">this job</span>
      </p>
      <PageTitle title={name}>{name}</PageTitle>
      <Status job={j} />
      <Actions
        job={j}
        name={name}
        canWrite={canWrite}
        isAdmin={atLeast(me, "admin")}
        onJob={(next, retried) => {
          job.set(() => next);
          if (retried) setGen((g) => g + 1);
        }}
      />
      <ErrorNote error={job.error} />
      {live && <KeyRefusedNote refused={keyRefused} />}
      <JobCost jobId={id} ready={!live || !!transcript.data} ended={!live} gen={gen} />
      <Facts job={j} />
      <p class="pick-note small" role="status">
        {note && (
          <>
            {note.text}{" "}
            {note.clip !== undefined && (
              <button type="button" class="link" onClick={() => showClip(note.clip!)}>
                Show clip {note.clip}
              </button>
            )}{" "}
            <button type="button" class="link" onClick={() => setNote(null)}>
              Dismiss
            </button>
          </>
        )}
      </p>
      <ClipGrid
        clips={clips}
        highlights={highlights.data?.items ?? []}
        manifest={manifest.data ?? null}
        live={live}
        players={players.current}
        onActive={(index) => (active.current = index)}
      />
      <TimelineSection
        duration={transcript.data?.duration ?? media?.duration ?? null}
        loudness={loudness}
        silences={silences}
        highlights={highlights.data?.items ?? []}
        onPick={goTo}
        onHighlight={showHighlight}
        live={live}
      />
      <AnalysisView analysis={analysis} live={live} onTime={goTo} />
      <JobSpeakers jobId={id} gen={gen} live={live} canWrite={canWrite} onNamed={transcript.reload} />
      <TranscriptView
        jobId={id}
        transcript={transcript}
        canEdit={canWrite}
        live={live}
        picked={picked}
        onTime={goTo}
      />
      <ModerationView job={j} gen={gen} live={live} canReview={canWrite} onTime={goTo} />
      <Downloads job={j} clips={clips.data?.items ?? []} onRenew={renew} />
      <RerenderSection job={j} highlights={highlights.data?.items ?? []} canWrite={canWrite} gen={gen} />
    </div>
  );
}

//! The orchestrator: runs the stages of one job in order inside a scratch
//! folder it owns, and records the current stage, progress and stage events
//! on the job as it goes.
//!
//! Stages are plain async functions, one module each, that take a
//! [`JobCtx`] and the previous stages' results. They never finish the job
//! themselves: they return a [`StageError`] and the handler settles it.

mod analyze;
pub(crate) mod audio;
pub(crate) mod clips;
mod dvector;
mod error;
mod fetch;
pub(crate) mod loudness;
mod meter;
pub(crate) mod moderate;
pub(crate) mod probe;
mod publish;
pub(crate) mod silence;
pub(crate) mod speakers;
pub(crate) mod transcribe;
pub(crate) mod vad;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
pub(crate) mod listening_tests;
#[cfg(test)]
pub(crate) mod media_tests;
#[cfg(test)]
mod speaker_tests;
#[cfg(test)]
mod wer_tests;

use std::{future::Future, path::Path, sync::Arc, time::Duration};

use cutroom_core::{
    Config, Database, ErrorCode,
    events::JobEvent,
    jobs::{JobOptions, ModelUse},
    queries::{events, jobs},
    storage::ObjectStore,
};
use cutroom_entities::job;
use sea_orm::DbErr;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub(crate) use cutroom_core::stage::Stage;
pub(crate) use error::{Failure, StageError, StopReason};

use crate::{engines::Engines, models::ModelFile};

/// How often a running job looks for a cancel request (or a deleted row).
const CANCEL_POLL: Duration = Duration::from_secs(1);
/// Seconds of LLM time a job gets for each minute of its media, on top of
/// the server's `analysis_deadline`.
const LLM_SECONDS_PER_MINUTE: f64 = 10.0;

/// How a job ended, for the handler to record.
#[derive(Debug)]
pub(crate) enum Outcome {
    Succeeded,
    Failed(Failure),
    /// A user asked to cancel (or deleted the job).
    Cancelled,
    /// This worker is shutting down; the job should run again elsewhere.
    Interrupted,
}

/// What a stage may use. Borrowed from the orchestrator for one job.
pub(crate) struct JobCtx<'a> {
    pub config: &'a Config,
    pub db: &'a Database,
    pub store: &'a dyn ObjectStore,
    /// The worker's models.
    pub engines: &'a Arc<Engines>,
    pub job: &'a job::Model,
    pub options: JobOptions,
    /// The job's own folder; everything written here disappears with it.
    pub scratch: &'a Path,
    /// Cancelled when the job must stop; blocking work polls it.
    pub stop: &'a CancellationToken,
    shutdown: &'a CancellationToken,
    /// The end of this job's time for LLM requests, set by the first one:
    /// the analysis and the custom policies share it.
    llm_deadline: std::sync::OnceLock<crate::analysis::llm::Deadline>,
}

impl JobCtx<'_> {
    /// When this job's LLM requests must be done: the server's
    /// `analysis_deadline` plus [`LLM_SECONDS_PER_MINUTE`] for each minute
    /// of the job's `media_seconds`, from the first of them. A short file's
    /// analysis is one small request, so a slow endpoint holds its worker
    /// only briefly; a long talk goes in several chunks and gets longer.
    pub(crate) fn llm_deadline(&self, media_seconds: f64) -> crate::analysis::llm::Deadline {
        *self.llm_deadline.get_or_init(|| {
            let minutes = media_seconds.max(0.0) / 60.0;
            let extra = Duration::from_secs_f64(minutes * LLM_SECONDS_PER_MINUTE);
            crate::analysis::llm::Deadline::after(self.config.analysis_deadline + extra)
        })
    }

    /// Where `stage` starts and where the next one starts, in the job's
    /// progress (0-100). A re-render runs fewer stages, and spends most of
    /// its time rendering.
    fn span(&self, stage: Stage) -> (i32, i32) {
        if self.job.parent_id.is_some() {
            stage.render_span()
        } else {
            stage.span()
        }
    }

    /// Updates the job's progress within the current stage.
    pub async fn progress(&self, stage: Stage, progress: i32) -> Result<(), DbErr> {
        jobs::set_progress(
            &self.db.orm,
            self.job.tenant_id,
            self.job.id,
            stage.name(),
            progress,
        )
        .await
    }

    /// Writes a stage's result file into the scratch folder, to be published.
    pub async fn write_output(
        &self,
        name: &str,
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> Result<Output, StageError> {
        let path = self.scratch.join(name);
        tokio::fs::write(&path, bytes).await.map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the worker could not write its results; try again later",
            )
            .detail(e)
        })?;
        Ok(Output {
            name: name.to_owned(),
            path,
            content_type,
            models: Vec::new(),
        })
    }

    /// Runs blocking `work` (a model, a decoder) off the async threads and
    /// records the progress it reports through [`Progress`] on the job, as
    /// a share of `stage`'s span, at most once every [`PROGRESS_EVERY`].
    pub async fn blocking<T: Send + 'static>(
        &self,
        stage: Stage,
        work: impl FnOnce(&Progress) -> T + Send + 'static,
    ) -> Result<T, StageError> {
        let progress = Progress::default();
        let reporter = progress.clone();
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || span.in_scope(|| work(&reporter)));
        // Blocking work polls `stop` itself and is waited for either way.
        let joined = self.drive(stage, &progress, handle, false).await?;
        Ok(joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
    }

    /// Runs async `work` (requests to an LLM), recording the progress it
    /// reports like [`JobCtx::blocking`]; dropped (cancelling its requests)
    /// when the job must stop.
    pub async fn tracked<T>(
        &self,
        stage: Stage,
        progress: &Progress,
        work: impl Future<Output = T>,
    ) -> Result<T, StageError> {
        self.drive(stage, progress, work, true).await
    }

    async fn drive<T>(
        &self,
        stage: Stage,
        progress: &Progress,
        work: impl Future<Output = T>,
        stop_early: bool,
    ) -> Result<T, StageError> {
        let (from, to) = self.span(stage);
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown = 0.0f32;
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                () = self.stop.cancelled(), if stop_early => {
                    return Err(StageError::Stopped(self.stop_reason()));
                }
                _ = tick.tick() => {
                    let done = progress.get();
                    if done > shown {
                        shown = done;
                        let at = from + ((to - from) as f32 * done).floor() as i32;
                        self.progress(stage, at.min(to - 1)).await?;
                    }
                }
            }
        }
    }

    /// Why [`JobCtx::stop`] fired, for work that noticed it by itself.
    pub fn stop_reason(&self) -> StopReason {
        if self.shutdown.is_cancelled() {
            StopReason::Shutdown
        } else {
            StopReason::Cancelled
        }
    }
}

/// How often [`JobCtx::blocking`] records progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// How far blocking work has got, 0-1; cheap to set from any thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct Progress(Arc<std::sync::atomic::AtomicU32>);

impl Progress {
    pub fn set(&self, done: f32) {
        self.0.store(
            done.clamp(0.0, 1.0).to_bits(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A file a stage produced, to be published as an artifact.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    /// The artifact's name, unique within the job (`clips/01/vertical.mp4`).
    pub name: String,
    pub path: std::path::PathBuf,
    pub content_type: &'static str,
    /// The model files that produced it.
    pub models: Vec<ModelUse>,
}

impl Output {
    /// Records the model files behind this output.
    pub fn made_with<'m>(mut self, files: impl IntoIterator<Item = &'m ModelFile>) -> Self {
        self.models.extend(files.into_iter().map(|f| ModelUse {
            name: f.name.to_owned(),
            sha256: f.sha256.clone(),
        }));
        self
    }
}

pub(crate) struct Pipeline<'a> {
    config: &'a Config,
    db: &'a Database,
    store: &'a dyn ObjectStore,
    engines: &'a Arc<Engines>,
    shutdown: &'a CancellationToken,
}

impl<'a> Pipeline<'a> {
    pub fn new(
        config: &'a Config,
        db: &'a Database,
        store: &'a dyn ObjectStore,
        engines: &'a Arc<Engines>,
        shutdown: &'a CancellationToken,
    ) -> Self {
        Self {
            config,
            db,
            store,
            engines,
            shutdown,
        }
    }

    /// Runs every stage of a claimed job. `Err` only for database errors
    /// the handler must judge; everything else is an [`Outcome`].
    pub async fn run(&self, job: &job::Model) -> Result<Outcome, DbErr> {
        let options = match serde_json::from_value::<JobOptions>(job.options.clone()) {
            Ok(o) => o,
            Err(e) => {
                // The API validated them; an unreadable value is a bug or a
                // row written by another version.
                return Ok(failed(
                    ErrorCode::InternalError,
                    "the job's options could not be read",
                    e,
                ));
            }
        };
        // Dropped (removing the folder) however this function ends: return,
        // error, panic unwinding through it, or the future being dropped.
        let scratch = match self.scratch_dir(job) {
            Ok(dir) => dir,
            Err(e) => {
                return Ok(failed(
                    ErrorCode::InternalError,
                    "the worker has no scratch space; try again later",
                    e,
                ));
            }
        };
        let stop = CancellationToken::new();
        // Blocking work (decoding) watches the token; dropping this future
        // must stop it too.
        let _stop_on_drop = stop.clone().drop_guard();
        let ctx = JobCtx {
            config: self.config,
            db: self.db,
            store: self.store,
            engines: self.engines,
            job,
            options,
            scratch: scratch.path(),
            stop: &stop,
            shutdown: self.shutdown,
            llm_deadline: std::sync::OnceLock::new(),
        };

        // The watcher wins ties: once a stop is decided, the stages future is
        // dropped, which kills child processes and abandons transfers.
        let result = tokio::select! {
            biased;
            reason = self.watch(job) => Err(StageError::Stopped(reason)),
            result = self.stages(&ctx) => result,
        };
        stop.cancel();
        if let Err(e) = scratch.close() {
            tracing::warn!(error = %e, "could not remove the scratch folder");
        }
        Ok(match result {
            Ok(()) => Outcome::Succeeded,
            Err(StageError::Failed(f)) => Outcome::Failed(f),
            Err(StageError::Stopped(StopReason::Cancelled)) => Outcome::Cancelled,
            Err(StageError::Stopped(StopReason::Shutdown)) => Outcome::Interrupted,
            Err(StageError::Db(e)) => return Err(e),
        })
    }

    /// The stages, in order. Adding a stage is one line here and one module.
    async fn stages(&self, ctx: &JobCtx<'_>) -> Result<(), StageError> {
        if let Some(parent) = ctx.job.parent_id {
            return self.render_stages(ctx, parent).await;
        }
        let source = self.stage(ctx, Stage::Fetch, fetch::run(ctx)).await?;
        let (media, audio) = self.probe_and_decode(ctx, &source).await?;
        let seconds = audio.duration();
        let loudness = self
            .stage(ctx, Stage::Loudness, loudness::run(ctx, &audio))
            .await?;
        meter::record(ctx, Stage::Loudness, None, seconds).await?;
        let speech = self
            .stage(ctx, Stage::Silence, silence::run(ctx, &audio))
            .await?;
        let vad = ctx.engines.set.silero_vad().name;
        meter::record(ctx, Stage::Silence, Some(vad), seconds).await?;
        let mut transcript = self
            .stage(
                ctx,
                Stage::Transcribe,
                transcribe::run(ctx, Arc::clone(&audio.mono16k), &speech.report.speech),
            )
            .await?;
        let whisper = format!("whisper:{}", transcript.model);
        meter::record(ctx, Stage::Transcribe, Some(&whisper), seconds).await?;
        let labelled = self
            .stage(ctx, Stage::Speakers, async {
                let speakers = speakers::run(
                    ctx,
                    Arc::clone(&audio.mono16k),
                    &speech.report.speech,
                    &mut transcript,
                )
                .await?;
                let mut outputs = transcribe::save(ctx, &transcript).await?;
                outputs.push(speakers);
                Ok(outputs)
            })
            .await?;
        let embedder = ctx.engines.set.speaker_embedder().name;
        meter::record(ctx, Stage::Speakers, Some(embedder), seconds).await?;
        let (analysis, analyzed) = self
            .stage(
                ctx,
                Stage::Analyze,
                analyze::run(ctx, &transcript, &audio.loudness, &speech.report),
            )
            .await?;
        let analyst = match (analysis.provider, &analysis.model) {
            ("builtin", _) | (_, None) => analysis.provider.to_owned(),
            (provider, Some(model)) => format!("{provider}:{model}"),
        };
        meter::record(ctx, Stage::Analyze, Some(&analyst), seconds).await?;
        let (moderation, moderated) = self
            .stage(
                ctx,
                Stage::Moderate,
                moderate::run(ctx, &transcript, &analysis.analysis.highlights),
            )
            .await?;
        let classifier = ctx.engines.set.toxicity().0.name;
        meter::record(ctx, Stage::Moderate, Some(classifier), seconds).await?;
        self.flagged(ctx, &moderation).await?;
        let clips = self
            .stage(
                ctx,
                Stage::Clips,
                clips::run(
                    ctx,
                    &clips::Inputs {
                        source: &source,
                        media: &media,
                        audio: &audio,
                        silences: &speech.report,
                        transcript: &transcript,
                        highlights: &analysis.analysis.highlights,
                        ranked: true,
                        edit_flags: &[],
                    },
                ),
            )
            .await?;
        let mut outputs = vec![loudness, speech.output];
        outputs.extend(labelled);
        outputs.push(analyzed);
        outputs.push(moderated);
        self.publish_clips(ctx, clips, outputs, Some(&source)).await
    }

    /// Probe and decode, the source counted towards the tenant's quota by
    /// the audio decoded, not the length its header declares (which can
    /// lie). A declared length that does not fit fails the job at probe;
    /// audio that runs past what is left fails it while decoding; both
    /// before anything costly runs.
    async fn probe_and_decode(
        &self,
        ctx: &JobCtx<'_>,
        source: &fetch::Source,
    ) -> Result<(probe::MediaInfo, audio::DecodedAudio), StageError> {
        let (media, allowance) = self
            .stage(ctx, Stage::Probe, async {
                let media = probe::run(ctx, source).await?;
                let allowance = meter::allowance(ctx, media.duration).await?;
                Ok((media, allowance))
            })
            .await?;
        let audio = self
            .stage(ctx, Stage::Audio, async {
                let audio = audio::run(ctx, source, &media, allowance).await?;
                meter::charge(ctx, audio.duration()).await?;
                Ok(audio)
            })
            .await?;
        meter::record(ctx, Stage::Audio, None, audio.duration()).await?;
        Ok((media, audio))
    }

    /// Records a job event that is not a stage boundary (webhooks follow it).
    async fn note(
        &self,
        ctx: &JobCtx<'_>,
        event: JobEvent,
        data: serde_json::Value,
    ) -> Result<(), StageError> {
        let job = ctx.job;
        events::record(&self.db.orm, job.tenant_id, job.id, event, Some(data)).await?;
        Ok(())
    }

    /// `moderation_flagged` when moderation raised flags; they are in the
    /// review queue once the stage has stored them.
    async fn flagged(
        &self,
        ctx: &JobCtx<'_>,
        report: &moderate::ModerationReport,
    ) -> Result<(), StageError> {
        let summary = &report.summary;
        if summary.flagged_segments + summary.flagged_highlights == 0 {
            return Ok(());
        }
        self.note(
            ctx,
            JobEvent::ModerationFlagged,
            json!({
                "flagged_segments": summary.flagged_segments,
                "flagged_highlights": summary.flagged_highlights,
                "flagged_seconds": summary.flagged_seconds,
                "action": summary.action,
            }),
        )
        .await
    }

    /// `clips_ready` once the clips are stored and listed, when there are any.
    async fn clips_ready(&self, ctx: &JobCtx<'_>, count: usize) -> Result<(), StageError> {
        if count == 0 {
            return Ok(());
        }
        self.note(ctx, JobEvent::ClipsReady, json!({ "count": count }))
            .await
    }

    /// A re-render: the clips of the ranges a person chose, from the source
    /// `parent` kept, captioned from its transcript as corrected since. The
    /// audio is decoded and its silences found again (the cuts land in
    /// them); nothing is transcribed or analysed again, but the corrected
    /// segments are moderated before any clip shows them.
    async fn render_stages(&self, ctx: &JobCtx<'_>, parent: Uuid) -> Result<(), StageError> {
        let source = self
            .stage(ctx, Stage::Fetch, fetch::kept(ctx, parent))
            .await?;
        let (media, audio) = self.probe_and_decode(ctx, &source).await?;
        let speech = self
            .stage(ctx, Stage::Silence, silence::run(ctx, &audio))
            .await?;
        let vad = ctx.engines.set.silero_vad().name;
        meter::record(ctx, Stage::Silence, Some(vad), audio.duration()).await?;
        // Read once: the text moderation reads is the text the clips show.
        let (transcript, moderation) = self
            .stage(ctx, Stage::Moderate, async {
                let (transcript, edited) = transcribe::load(ctx, parent).await?;
                if edited.is_empty() {
                    return Ok((transcript, None));
                }
                let checked = moderate::recheck(ctx, parent, &transcript, &edited).await?;
                Ok((transcript, Some(checked)))
            })
            .await?;
        let mut outputs = Vec::new();
        let mut edit_flags = Vec::new();
        if let Some((report, output, flags)) = moderation {
            let edited = report.edited_segments.as_deref().unwrap_or_default();
            let seconds = transcript
                .segments
                .iter()
                .filter(|s| edited.contains(&s.id))
                .map(|s| s.end - s.start)
                .sum();
            let classifier = ctx.engines.set.toxicity().0.name;
            meter::record(ctx, Stage::Moderate, Some(classifier), seconds).await?;
            self.flagged(ctx, &report).await?;
            outputs.push(output);
            edit_flags = flags;
        }
        let clips = self
            .stage(ctx, Stage::Clips, async {
                let highlights = clips::ranges(ctx.job, &transcript)?;
                clips::run(
                    ctx,
                    &clips::Inputs {
                        source: &source,
                        media: &media,
                        audio: &audio,
                        silences: &speech.report,
                        transcript: &transcript,
                        highlights: &highlights,
                        ranked: false,
                        edit_flags: &edit_flags,
                    },
                )
                .await
            })
            .await?;
        self.publish_clips(ctx, clips, outputs, None).await
    }

    /// What follows the clips stage, the same for a full run and a
    /// re-render: the clips metered, the job's `outputs` and the clips'
    /// published (once the source is kept, when `keep` names it), the
    /// clips listed, and `clips_ready`.
    async fn publish_clips(
        &self,
        ctx: &JobCtx<'_>,
        clips: clips::Clips,
        mut outputs: Vec<Output>,
        keep: Option<&fetch::Source>,
    ) -> Result<(), StageError> {
        meter::record(ctx, Stage::Clips, None, clips.seconds()).await?;
        let clips_count = clips.rows.len();
        outputs.extend(clips.outputs);
        self.stage(ctx, Stage::Publish, async {
            if let Some(source) = keep {
                // Before the outputs: a job that asked for its source to
                // be kept and could not keep it fails rather than
                // succeeding without the re-renders it was promised.
                publish::keep_source(ctx, source).await?;
            }
            publish::run(ctx, &outputs).await?;
            // Recorded once their files are stored, so a listed clip can
            // always be downloaded.
            clips::record(ctx, clips.rows).await
        })
        .await?;
        self.clips_ready(ctx, clips_count).await
    }

    /// One stage: check for a stop, record the start, run, record the end.
    async fn stage<T>(
        &self,
        ctx: &JobCtx<'_>,
        stage: Stage,
        work: impl Future<Output = Result<T, StageError>>,
    ) -> Result<T, StageError> {
        let job = ctx.job;
        self.check_stop(job).await?;
        ctx.progress(stage, ctx.span(stage).0).await?;
        events::record(
            &self.db.orm,
            job.tenant_id,
            job.id,
            JobEvent::StageStarted(stage),
            None,
        )
        .await?;
        let started = Instant::now();
        let result = work.await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (event, data) = match &result {
            Ok(_) => (
                JobEvent::StageCompleted(stage),
                json!({ "elapsed_ms": elapsed_ms }),
            ),
            Err(StageError::Failed(f)) => (
                JobEvent::StageFailed(stage),
                json!({ "elapsed_ms": elapsed_ms, "code": f.code }),
            ),
            Err(_) => return result,
        };
        events::record(&self.db.orm, job.tenant_id, job.id, event, Some(data)).await?;
        tracing::debug!(stage = stage.name(), elapsed_ms, "{}", event.kind());
        result
    }

    async fn check_stop(&self, job: &job::Model) -> Result<(), StageError> {
        if self.shutdown.is_cancelled() {
            return Err(StageError::Stopped(StopReason::Shutdown));
        }
        if jobs::cancel_requested(&self.db.orm, job.tenant_id, job.id).await? {
            return Err(StageError::Stopped(StopReason::Cancelled));
        }
        Ok(())
    }

    /// Resolves when the job must stop: the worker shuts down, or a user
    /// cancelled or deleted the job. Polls the row, so a cancel is noticed
    /// within [`CANCEL_POLL`] even in the middle of a long download.
    async fn watch(&self, job: &job::Model) -> StopReason {
        let mut tick = tokio::time::interval(CANCEL_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return StopReason::Shutdown,
                _ = tick.tick() => {}
            }
            match jobs::cancel_requested(&self.db.orm, job.tenant_id, job.id).await {
                Ok(true) => return StopReason::Cancelled,
                Ok(false) => {}
                // The stages hit the same database and report a lasting outage.
                Err(e) => tracing::debug!(error = %e, "could not check for a cancel request"),
            }
        }
    }

    /// A fresh `job-{id}-XXXX` folder under the configured scratch root.
    fn scratch_dir(&self, job: &job::Model) -> std::io::Result<tempfile::TempDir> {
        std::fs::create_dir_all(&self.config.scratch_dir)?;
        tempfile::Builder::new()
            .prefix(&format!("job-{}-", job.id))
            .tempdir_in(&self.config.scratch_dir)
    }
}

fn failed(code: ErrorCode, message: &str, detail: impl std::fmt::Display) -> Outcome {
    Outcome::Failed(Failure {
        code,
        message: message.into(),
        detail: Some(detail.to_string()),
    })
}

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
mod context;
mod enrol;
mod error;
mod fetch;
pub(crate) mod loudness;
mod meter;
pub(crate) mod moderate;
mod notes;
mod opus;
pub(crate) mod probe;
mod publish;
mod rerender;
pub(crate) mod silence;
pub(crate) mod speakers;
pub(crate) mod transcribe;
mod unpack;
pub(crate) mod vad;
pub(crate) mod voice;

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

use std::{future::Future, sync::Arc, time::Duration};

use cutroom_core::{
    Config, Database, ErrorCode,
    analysis::Provider,
    events::JobEvent,
    jobs::JobOptions,
    queries::{events, jobs},
    storage::ObjectStore,
};
use cutroom_entities::job;
use sea_orm::DbErr;
use serde_json::json;
use tokio::{
    sync::{Semaphore, SemaphorePermit},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

pub(crate) use context::{JobCtx, Output, Progress};
pub(crate) use cutroom_core::stage::Stage;
pub(crate) use error::{Failure, StageError, StopReason};

use crate::engines::Engines;

/// How often a running job looks for a cancel request (or a deleted row).
const CANCEL_POLL: Duration = Duration::from_secs(1);

/// How a job ended, for the handler to record.
#[derive(Debug)]
pub(crate) enum Outcome {
    Succeeded,
    Failed(Failure),
    /// A user asked to cancel (or deleted the job).
    Cancelled,
    /// This worker is shutting down; the job should run again elsewhere.
    Interrupted,
    /// The tenant's budget is spent and it chose to wait until `until`.
    WaitForBudget {
        until: chrono::DateTime<chrono::Utc>,
        reason: String,
    },
}

pub(crate) struct Pipeline<'a> {
    config: &'a Config,
    db: &'a Database,
    store: &'a dyn ObjectStore,
    engines: &'a Arc<Engines>,
    shutdown: &'a CancellationToken,
    /// The worker's compute turn, taken once the source is here
    /// ([`Self::compute_turn`]).
    compute: &'a Semaphore,
}

impl<'a> Pipeline<'a> {
    pub fn new(
        config: &'a Config,
        db: &'a Database,
        store: &'a dyn ObjectStore,
        engines: &'a Arc<Engines>,
        shutdown: &'a CancellationToken,
        compute: &'a Semaphore,
    ) -> Self {
        Self {
            config,
            db,
            store,
            engines,
            shutdown,
            compute,
        }
    }

    /// Waits until no other job of this worker computes. Only a prefetched
    /// job (`CUTROOM_WORKER_PREFETCH=1`) ever waits: it has its source and
    /// decodes once the job before it is done. The watcher still stops it
    /// meanwhile (cancel, shutdown).
    async fn compute_turn(&self) -> Option<SemaphorePermit<'a>> {
        // The semaphore is never closed; `None` would only mean no wait.
        self.compute.acquire().await.ok()
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
            elapsed: std::sync::Mutex::default(),
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
            Err(StageError::WaitForBudget { until, reason }) => {
                Outcome::WaitForBudget { until, reason }
            }
            Err(StageError::Db(e)) => return Err(e),
        })
    }

    /// The stages, in order. Adding a stage is one line here and one module.
    async fn stages(&self, ctx: &JobCtx<'_>) -> Result<(), StageError> {
        // Re-renders, enrolments and archives fetch nothing worth
        // overlapping: they take their turn first.
        let setup_only = ctx.job.parent_id.is_some()
            || ctx.job.enrols_speaker_id.is_some()
            || ctx.job.unpacks_batch_id.is_some();
        let _turn = if setup_only {
            self.compute_turn().await
        } else {
            None
        };
        if let Some(parent) = ctx.job.parent_id {
            return self.render_stages(ctx, parent).await;
        }
        if let Some(speaker) = ctx.job.enrols_speaker_id {
            return self.enrol_stages(ctx, speaker).await;
        }
        if let Some(batch) = ctx.job.unpacks_batch_id {
            // Boxed: its future would swell every job's by its size.
            return Box::pin(self.unpack_stages(ctx, batch)).await;
        }
        // A tenant waiting for its budget: back in line before any download.
        meter::wait_for_budget(ctx).await?;
        let source = self.stage(ctx, Stage::Fetch, fetch::run(ctx)).await?;
        let _turn = self.compute_turn().await;
        let (media, audio, kept) = self.probe_and_decode(ctx, &source, None).await?;
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
        let routed = self
            .stage(
                ctx,
                Stage::Transcribe,
                transcribe::run(ctx, Arc::clone(&audio.mono16k), &speech.report.speech),
            )
            .await?;
        meter::routed(ctx, &routed, seconds).await?;
        let mut transcript = routed.transcript;
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
        let embedder = ctx.engines.speaker_file().name;
        meter::record(ctx, Stage::Speakers, Some(embedder), seconds).await?;
        let (analysis, analyzed) = self
            .stage(
                ctx,
                Stage::Analyze,
                analyze::run(ctx, &transcript, &audio.loudness, &speech.report),
            )
            .await?;
        let analyst = match (analysis.provider, &analysis.model) {
            (Provider::Builtin, _) | (_, None) => analysis.provider.name().to_owned(),
            (provider, Some(model)) => format!("{}:{model}", provider.name()),
        };
        let llm_cost = analysis
            .usage
            .as_ref()
            .and_then(|u| u.cost_usd)
            .unwrap_or_default();
        meter::record_priced(ctx, Stage::Analyze, Some(&analyst), seconds, llm_cost).await?;
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
        outputs.extend(kept);
        outputs.extend(labelled);
        outputs.push(analyzed);
        outputs.push(moderated);
        self.publish_clips(ctx, clips, outputs, Some(&source)).await
    }

    /// Probe and decode, the source counted towards the tenant's quota by
    /// the audio decoded, not the length its header declares (which can
    /// lie). A declared length that does not fit fails the job at probe;
    /// audio that runs past what is left fails it while decoding; both
    /// before anything costly runs. A voice sample declared longer than
    /// `longest` seconds fails at probe too. A batch child's recording is
    /// also kept as Opus, checked against the decoded length
    /// (`recording.opus`, the third value).
    async fn probe_and_decode(
        &self,
        ctx: &JobCtx<'_>,
        source: &fetch::Source,
        longest: Option<f64>,
    ) -> Result<(probe::MediaInfo, audio::DecodedAudio, Option<Output>), StageError> {
        let (media, allowance) = self
            .stage(ctx, Stage::Probe, async {
                let media = probe::run(ctx, source).await?;
                if let (Some(limit), Some(declared)) = (longest, media.duration)
                    && declared > limit
                {
                    return Err(enrol::too_long(declared));
                }
                let allowance = meter::allowance(ctx, media.duration).await?;
                Ok((media, allowance))
            })
            .await?;
        let (audio, kept) = self
            .stage(ctx, Stage::Audio, async {
                let audio = audio::run(ctx, source, &media, allowance).await?;
                meter::charge(ctx, audio.duration()).await?;
                let kept = match ctx.job.batch_id {
                    Some(batch) => {
                        let kbps = opus::bitrate(ctx, batch).await?;
                        let copy = Box::pin(opus::run(ctx, Arc::clone(&audio.mono16k), kbps));
                        Some(copy.await?.0)
                    }
                    None => None,
                };
                Ok((audio, kept))
            })
            .await?;
        meter::record(ctx, Stage::Audio, None, audio.duration()).await?;
        Ok((media, audio, kept))
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
        let elapsed = started.elapsed();
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        *ctx.elapsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(stage)
            .or_default() += elapsed.as_secs_f64();
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

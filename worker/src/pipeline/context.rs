//! What a stage works with: the job's context ([`JobCtx`]), the progress
//! blocking work reports ([`Progress`]), and the files it produces
//! ([`Output`]).

use std::{future::Future, path::Path, sync::Arc, time::Duration};

use cutroom_core::{
    Config, Database, ErrorCode,
    jobs::{JobOptions, ModelUse},
    queries::jobs,
    storage::ObjectStore,
};
use cutroom_entities::job;
use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;

use super::{Stage, StageError, StopReason};
use crate::{engines::Engines, models::ModelFile};

/// Seconds of LLM time a job gets for each minute of its media, on top of
/// the server's `analysis_deadline`.
const LLM_SECONDS_PER_MINUTE: f64 = 10.0;

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
    pub(super) shutdown: &'a CancellationToken,
    /// The end of this job's time for LLM requests, set by the first one:
    /// the analysis and the custom policies share it.
    pub(super) llm_deadline: std::sync::OnceLock<crate::analysis::llm::Deadline>,
    /// Seconds each stage of this run took, for its cost
    /// ([`super::meter::record`]).
    pub(super) elapsed: std::sync::Mutex<std::collections::HashMap<Stage, f64>>,
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
    pub(super) fn span(&self, stage: Stage) -> (i32, i32) {
        if self.job.parent_id.is_some() {
            stage.render_span()
        } else if self.job.enrols_speaker_id.is_some() {
            stage.enrol_span()
        } else if self.job.unpacks_batch_id.is_some() {
            stage.unpack_span()
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

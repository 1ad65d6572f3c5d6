//! The queue's way into the pipeline: claim the job, run it, record how it
//! ended.
//!
//! Jobs count their own attempts. A failure that may pass (a broken
//! download, a storage outage: [`ErrorCode::is_transient`]) puts the job
//! back in line to run again after a growing pause, up to
//! `CUTROOM_JOB_MAX_ATTEMPTS` runs; after the last it ends `failed` with
//! its history of attempts in its events, and an admin may retry it. Every
//! other failure ends the job at once, because running the same source
//! through the same code again would fail the same way. A worker that
//! dies mid-job (SIGKILL, out of memory) stops heartbeating; the queue
//! hands its task to another worker, which finds the job still `running`
//! and starts it over as the next attempt.
//!
//! Apalis itself retries only what cannot be settled: the database still
//! unreachable when the job ends. The next run then finds the job
//! `running` and counts the attempt as lost.

use std::{panic::AssertUnwindSafe, sync::Arc};

use apalis::prelude::Data;
use chrono::Utc;
use cutroom_core::{
    Config, Database, ErrorCode,
    events::{JobEvent, StatusChange},
    jobs::PipelineTask,
    queries::{
        self, events,
        jobs::{self, Claim},
        workers,
    },
    queue,
    storage::{self, ObjectStore},
};
use cutroom_entities::{JobStatus, SourceType, job};
use futures::FutureExt;
use sea_orm::DbErr;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

use crate::{
    engines::Engines,
    pipeline::{Failure, Outcome, Pipeline},
};

/// What every task needs; shared by all tasks of one worker.
pub(crate) struct Handler {
    config: Config,
    db: Database,
    store: Arc<dyn ObjectStore>,
    shutdown: CancellationToken,
    /// `None` runs no stages (the queue benchmark).
    engines: Option<Arc<Engines>>,
    /// This worker's name in the registry.
    worker: String,
    /// The worker's one compute turn. With prefetch a second job is
    /// claimed and downloads its source meanwhile, then waits here before
    /// decoding: one job's compute at a time, as ever.
    compute: tokio::sync::Semaphore,
}

/// Why apalis should hand the task out again.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error("the database is unavailable: {0}")]
    Db(#[from] DbErr),
}

/// The apalis task function.
pub(crate) async fn handle(
    payload: serde_json::Value,
    handler: Data<Arc<Handler>>,
) -> Result<(), HandlerError> {
    match serde_json::from_value::<PipelineTask>(payload) {
        Ok(task) => handler.run(task).await,
        Err(e) => {
            // Retrying cannot make it readable; dropping it keeps the queue moving.
            tracing::error!(error = %e, "dropping a pipeline task whose payload is not a PipelineTask");
            Ok(())
        }
    }
}

impl Handler {
    pub(crate) fn new(
        config: Config,
        db: Database,
        store: Arc<dyn ObjectStore>,
        shutdown: CancellationToken,
        engines: Option<Arc<Engines>>,
        worker: String,
    ) -> Self {
        Self {
            config,
            db,
            store,
            shutdown,
            engines,
            worker,
            compute: tokio::sync::Semaphore::new(1),
        }
    }

    #[instrument(name = "job", skip_all, fields(tenant.id = %task.tenant_id, job.id = %task.job_id, attempt = tracing::field::Empty))]
    async fn run(&self, task: PipelineTask) -> Result<(), HandlerError> {
        let db = &self.db.orm;
        let max = self.config.retries.max_attempts;
        let job = match jobs::claim(db, task.tenant_id, task.job_id, task.dispatched_at, max)
            .await?
        {
            Claim::Skip => {
                // Finished, cancelled while queued, deleted, taken by another
                // worker, or retried since this task was made.
                tracing::info!("job is already settled; nothing to do");
                return Ok(());
            }
            Claim::Exhausted(job) => {
                self.record_lost(&job, job.attempts).await?;
                let attempt = job.attempts;
                // Someone asked to cancel it meanwhile: that is its ending.
                let outcome = if job.cancel_requested {
                    Outcome::Cancelled
                } else {
                    Outcome::Failed(Failure {
                        code: ErrorCode::WorkerLost,
                        message: format!(
                            "the worker running the job stopped responding on each of its {attempt} attempts"
                        ),
                        detail: None,
                    })
                };
                return self.settle(&job, attempt, outcome).await;
            }
            Claim::Run { job, lost } => {
                if let Some(lost) = lost {
                    self.record_lost(&job, lost).await?;
                }
                job
            }
        };
        let attempt = job.attempts;
        tracing::Span::current().record("attempt", attempt);
        if let Err(e) = workers::took(db, &self.worker, job.tenant_id, job.id).await {
            tracing::warn!(error = %e, "could not note the job in the worker registry");
        }
        self.status_event(
            &job,
            StatusChange::Running,
            Some(json!({ "attempt": attempt, "worker": self.worker })),
        )
        .await?;
        tracing::info!(attempt, "job started");

        let run = async {
            match &self.engines {
                Some(engines) => {
                    Pipeline::new(
                        &self.config,
                        &self.db,
                        self.store.as_ref(),
                        engines,
                        &self.shutdown,
                        &self.compute,
                    )
                    .run(&job)
                    .await
                }
                None => Ok(Outcome::Succeeded),
            }
        };
        let outcome = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(Ok(outcome)) => outcome,
            // The database went away mid-run (a restart): a failure that
            // passes. Any other query error is a bug.
            Ok(Err(e)) if cutroom_core::db::is_outage(&e) => Outcome::Failed(Failure {
                code: ErrorCode::DatabaseUnavailable,
                message: "the database could not be reached while the job ran; try again later"
                    .into(),
                detail: Some(e.to_string()),
            }),
            Ok(Err(e)) => internal_error(format!("database error: {e}")),
            Err(panic) => internal_error(format!("panic: {}", panic_message(panic.as_ref()))),
        };
        self.settle(&job, attempt, outcome).await
    }

    /// The worker of attempt `lost` died under the job.
    async fn record_lost(&self, job: &job::Model, lost: i32) -> Result<(), HandlerError> {
        tracing::warn!(
            attempt = lost,
            "the job's previous worker stopped responding"
        );
        self.status_event(
            job,
            StatusChange::Lost,
            Some(json!({ "attempt": lost, "code": ErrorCode::WorkerLost })),
        )
        .await?;
        Ok(())
    }

    /// Writes the terminal state (or puts the job back in line) and logs
    /// it once.
    async fn settle(
        &self,
        job: &job::Model,
        attempt: i32,
        outcome: Outcome,
    ) -> Result<(), HandlerError> {
        let db = &self.db.orm;
        if jobs::get(db, job.tenant_id, job.id).await?.is_none() {
            // Deleted while running. The API removed its outputs; anything
            // uploaded after that would be orphaned, so remove it again.
            let prefix = storage::job_prefix(job.tenant_id, job.id);
            if let Err(e) = self.store.delete_prefix(&prefix).await {
                tracing::warn!(error = %e, "could not remove the outputs of a deleted job");
            }
            tracing::info!("job was deleted while running");
            self.done(job, None).await;
            self.free_slot(job).await;
            return Ok(());
        }
        let (status, failure) = match outcome {
            Outcome::Succeeded => (JobStatus::Succeeded, None),
            Outcome::Failed(f)
                if f.code.is_transient()
                    && u32::try_from(attempt).unwrap_or(u32::MAX)
                        < self.config.retries.max_attempts =>
            {
                return self.retry_later(job, attempt, f).await;
            }
            Outcome::Failed(f) => (JobStatus::Failed, Some(f)),
            Outcome::Cancelled => (
                JobStatus::Cancelled,
                Some(Failure {
                    code: ErrorCode::Cancelled,
                    message: "cancelled on request".into(),
                    detail: None,
                }),
            ),
            Outcome::Interrupted => return self.hand_back(job, attempt).await,
            Outcome::WaitForBudget { until, reason } => {
                return self.wait_for_budget(job, attempt, until, reason).await;
            }
        };
        let error = failure.as_ref().map(|f| (f.code, f.message.clone()));
        if !jobs::finish(db, job.tenant_id, job.id, Some(attempt), status, error).await? {
            // Another worker took the job over (this one was presumed dead);
            // that one ends it.
            tracing::warn!(
                attempt,
                "the job was taken over by another worker; not ending it"
            );
            self.done(job, None).await;
            return Ok(());
        }
        // The ending's event first, so a client that sees the status
        // finds the event right after.
        let mut data = json!({ "attempt": attempt });
        if let Some(f) = &failure {
            data["code"] = json!(f.code);
        }
        self.status_event(job, status.into(), Some(data)).await?;
        if job.batch_id.is_some() || job.unpacks_batch_id.is_some() {
            let error = failure
                .as_ref()
                .map(|f| (f.code.as_str(), f.message.as_str()));
            // The sweeper completes a batch this misses.
            if let Err(e) = queries::batches::job_ended(db, job, status, error).await {
                tracing::warn!(error = %e, "could not update the job's batch");
            }
        }
        self.done(job, Some(status == JobStatus::Succeeded)).await;
        self.free_slot(job).await;
        let keep_original = failure.as_ref().is_some_and(|f| f.code.is_transient());
        if !keep_original {
            self.delete_original(job).await;
        }
        match failure {
            None => tracing::info!("job succeeded"),
            Some(f) if status == JobStatus::Cancelled => {
                tracing::info!(code = %f.code, "job cancelled")
            }
            Some(f) if f.code == ErrorCode::InternalError => {
                tracing::error!(code = %f.code, message = %f.message, detail = f.detail.as_deref(), "job failed")
            }
            Some(f) => {
                tracing::warn!(code = %f.code, message = %f.message, detail = f.detail.as_deref(), attempt, "job failed")
            }
        }
        Ok(())
    }

    /// A failure that may pass, with attempts left: back in line after a
    /// pause that grows with each attempt.
    async fn retry_later(
        &self,
        job: &job::Model,
        attempt: i32,
        f: Failure,
    ) -> Result<(), HandlerError> {
        let db = &self.db.orm;
        let delay = self
            .config
            .retries
            .delay(u32::try_from(attempt).unwrap_or(1));
        let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        if !jobs::retry_later(db, job.tenant_id, job.id, attempt, retry_at).await? {
            // Cancelled meanwhile: end it as asked instead.
            return Box::pin(self.settle(job, attempt, Outcome::Cancelled)).await;
        }
        self.status_event(
            job,
            StatusChange::Retrying,
            Some(json!({
                "attempt": attempt,
                "code": f.code,
                "message": f.message,
                "retry_at": retry_at,
            })),
        )
        .await?;
        self.done(job, Some(false)).await;
        self.free_slot(job).await;
        tracing::warn!(
            code = %f.code, message = %f.message, detail = f.detail.as_deref(), attempt,
            retry_in_secs = delay.as_secs(), "job failed; it will run again"
        );
        Ok(())
    }

    /// The tenant's budget is spent and it chose to wait: back in line
    /// until `until`, this attempt uncounted.
    async fn wait_for_budget(
        &self,
        job: &job::Model,
        attempt: i32,
        until: chrono::DateTime<Utc>,
        reason: String,
    ) -> Result<(), HandlerError> {
        if !jobs::wait_until(&self.db.orm, job.tenant_id, job.id, attempt, until).await? {
            // Cancelled meanwhile: end it as asked instead.
            return Box::pin(self.settle(job, attempt, Outcome::Cancelled)).await;
        }
        self.status_event(
            job,
            StatusChange::WaitingForBudget,
            Some(json!({
                "attempt": attempt,
                "code": ErrorCode::BudgetExceeded,
                "message": reason,
                "retry_at": until,
            })),
        )
        .await?;
        self.done(job, None).await;
        self.free_slot(job).await;
        tracing::info!(%until, %reason, "budget spent; the job waits");
        Ok(())
    }

    /// The worker is stopping: the job goes back in line at once and this
    /// attempt does not count.
    async fn hand_back(&self, job: &job::Model, attempt: i32) -> Result<(), HandlerError> {
        let db = &self.db.orm;
        if !jobs::hand_back(db, job.tenant_id, job.id, attempt).await? {
            // Cancelled while stopping: end it as asked.
            return Box::pin(self.settle(job, attempt, Outcome::Cancelled)).await;
        }
        self.status_event(
            job,
            StatusChange::HandedBack,
            Some(json!({ "attempt": attempt, "worker": self.worker })),
        )
        .await?;
        self.done(job, None).await;
        self.free_slot(job).await;
        tracing::info!("worker stopping; job handed back to the queue");
        Ok(())
    }

    /// Cutroom keeps no originals: an ended upload job's source is deleted
    /// (after a failure that may pass, the sweeper deletes it a day later
    /// instead, so an admin can retry). A failure here is caught up by the
    /// sweeper.
    async fn delete_original(&self, job: &job::Model) {
        let (SourceType::Upload, Some(key)) = (job.source_type, job.source_key.as_deref()) else {
            return;
        };
        let db = &self.db.orm;
        match jobs::take_source_key(db, job.tenant_id, job.id, key).await {
            Ok(true) => {}
            // Retried by an admin already: the next run needs it.
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the original for deletion; the sweeper will");
                return;
            }
        }
        if let Err(e) = self.store.delete(key).await {
            tracing::warn!(error = %e, "could not delete the original upload; the sweeper will");
            if let Err(e) = jobs::restore_source_key(db, job.tenant_id, job.id, key).await {
                tracing::warn!(error = %e, "could not give the job its original's key back");
            }
        }
    }

    /// A `status` event in the job's history (and its webhooks).
    async fn status_event(
        &self,
        job: &job::Model,
        change: StatusChange,
        data: Option<serde_json::Value>,
    ) -> Result<(), DbErr> {
        events::record(
            &self.db.orm,
            job.tenant_id,
            job.id,
            JobEvent::Status(change),
            data,
        )
        .await
    }

    async fn done(&self, job: &job::Model, ended: Option<bool>) {
        if let Err(e) = workers::done(&self.db.orm, &self.worker, job.id, ended).await {
            tracing::warn!(error = %e, "could not update the worker registry");
        }
    }
}

impl Handler {
    /// The job's slot is free: its tenant's next waiting job goes to the
    /// queue. A failure here is caught up by the API's sweeper.
    async fn free_slot(&self, job: &job::Model) {
        if let Err(e) =
            queue::dispatch(&self.db, job.tenant_id, self.config.tenant_max_running).await
        {
            tracing::warn!(error = %e, "could not hand the tenant's next job to the queue");
        }
    }
}

fn internal_error(detail: String) -> Outcome {
    Outcome::Failed(Failure {
        code: ErrorCode::InternalError,
        message: "an internal error stopped the job; it has been logged, try again later".into(),
        detail: Some(detail),
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

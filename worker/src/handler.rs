//! The queue's way into the pipeline: claim the job, run it, record how it
//! ended.
//!
//! Apalis only retries what the pipeline cannot settle itself: the database
//! being unreachable, or the worker stopping mid-job. Every other failure
//! ends the job `failed` with a code and returns `Ok`, because running the
//! same source through the same code again would fail the same way.

use std::{panic::AssertUnwindSafe, sync::Arc};

use apalis::prelude::{Attempt, Data};
use cutroom_core::{
    Config, Database, ErrorCode,
    jobs::PipelineTask,
    queries::{events, jobs},
    queue::{self, MAX_ATTEMPTS},
    storage::{self, ObjectStore},
};
use cutroom_entities::{JobStatus, job};
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
}

/// Why apalis should hand the task out again.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error("the database is unavailable: {0}")]
    Db(#[from] DbErr),
    #[error("the worker stopped during the job; it will run again")]
    Interrupted,
}

/// The apalis task function.
pub(crate) async fn handle(
    payload: serde_json::Value,
    handler: Data<Arc<Handler>>,
    attempt: Attempt,
) -> Result<(), HandlerError> {
    match serde_json::from_value::<PipelineTask>(payload) {
        Ok(task) => handler.run(task, attempt.current()).await,
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
    ) -> Self {
        Self {
            config,
            db,
            store,
            shutdown,
            engines,
        }
    }

    #[instrument(name = "job", skip_all, fields(tenant.id = %task.tenant_id, job.id = %task.job_id, attempt = attempt))]
    async fn run(&self, task: PipelineTask, attempt: usize) -> Result<(), HandlerError> {
        let db = &self.db.orm;
        let Some(job) = jobs::claim(db, task.tenant_id, task.job_id, task.dispatched_at).await?
        else {
            // Finished, cancelled while queued, deleted, or retried since
            // this task was made: a duplicate delivery.
            tracing::info!("job is already settled; nothing to do");
            return Ok(());
        };
        events::record(
            db,
            job.tenant_id,
            job.id,
            "status",
            None,
            Some("running".into()),
            Some(json!({ "attempt": attempt })),
        )
        .await?;
        tracing::info!("job started");

        let run = async {
            match &self.engines {
                Some(engines) => {
                    Pipeline::new(
                        &self.config,
                        &self.db,
                        self.store.as_ref(),
                        engines,
                        &self.shutdown,
                    )
                    .run(&job)
                    .await
                }
                None => Ok(Outcome::Succeeded),
            }
        };
        let outcome = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(Ok(outcome)) => outcome,
            // A query failed mid-run. If the database answers the `finish`
            // below it was not an outage, so the job fails instead of
            // looping through retries; if it does not, apalis retries.
            Ok(Err(e)) => internal_error(format!("database error: {e}")),
            Err(panic) => internal_error(format!("panic: {}", panic_message(panic.as_ref()))),
        };
        self.settle(&job, outcome, attempt).await
    }

    /// Writes the terminal state (or hands the task back) and logs it once.
    async fn settle(
        &self,
        job: &job::Model,
        outcome: Outcome,
        attempt: usize,
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
            self.free_slot(job).await;
            return Ok(());
        }
        let (status, failure) = match outcome {
            Outcome::Succeeded => (JobStatus::Succeeded, None),
            Outcome::Failed(f) => (JobStatus::Failed, Some(f)),
            Outcome::Cancelled => (
                JobStatus::Cancelled,
                Some(Failure {
                    code: ErrorCode::Cancelled,
                    message: "cancelled on request".into(),
                    detail: None,
                }),
            ),
            Outcome::Interrupted if attempt < MAX_ATTEMPTS => {
                let message = "the worker stopped; the job will run again".to_owned();
                events::record(
                    db,
                    job.tenant_id,
                    job.id,
                    "status",
                    None,
                    Some(message),
                    Some(json!({ "attempt": attempt })),
                )
                .await?;
                tracing::info!("worker stopping; job handed back to the queue");
                return Err(HandlerError::Interrupted);
            }
            Outcome::Interrupted => (
                JobStatus::Failed,
                Some(Failure {
                    code: ErrorCode::InternalError,
                    message: format!(
                        "the job was interrupted {attempt} times by workers stopping; submit it again"
                    ),
                    detail: None,
                }),
            ),
        };
        let error = failure.as_ref().map(|f| (f.code, f.message.clone()));
        jobs::finish(db, job.tenant_id, job.id, status, error).await?;
        self.free_slot(job).await;
        let data = failure.as_ref().map(|f| json!({ "code": f.code }));
        events::record(
            db,
            job.tenant_id,
            job.id,
            "status",
            None,
            Some(status_name(status).into()),
            data,
        )
        .await?;
        match failure {
            None => tracing::info!("job succeeded"),
            Some(f) if status == JobStatus::Cancelled => {
                tracing::info!(code = %f.code, "job cancelled")
            }
            Some(f) if f.code == ErrorCode::InternalError => {
                tracing::error!(code = %f.code, message = %f.message, detail = f.detail.as_deref(), "job failed")
            }
            Some(f) => {
                tracing::warn!(code = %f.code, message = %f.message, detail = f.detail.as_deref(), "job failed")
            }
        }
        Ok(())
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

fn status_name(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Succeeded => "succeeded",
        JobStatus::Failed => "failed",
        JobStatus::Cancelled => "cancelled",
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

//! What is kept only for a while: a presigned upload that is never
//! completed expires, and whatever was uploaded to it is deleted, as are
//! the temporary files of uploads a crash interrupted; a job's
//! source kept for re-renders is deleted when its time is up; an ended
//! job's uploaded original is deleted (a day after a failure that may
//! pass, so an admin can retry it); idempotency keys are forgotten after
//! 24 hours, and workers not seen for a day.
//!
//! Besides, every few seconds, jobs waiting for a free slot or for their
//! retry time are handed to the workers' queue.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cutroom_core::queries::{idempotency, jobs, uploads, workers};
use sea_orm::DbErr;
use tokio_util::sync::CancellationToken;

use crate::app::App;

const BATCH: u64 = 100;
/// How often waiting jobs whose slot or retry time came are handed over.
const DISPATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the original of a job that failed for a passing reason is kept.
pub const FAILED_ORIGINAL_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// Sweeps every `config.sweep_interval` until `shutdown`.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(app.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dispatch_tick = tokio::time::interval(DISPATCH_INTERVAL.min(app.config.sweep_interval));
    dispatch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = dispatch_tick.tick() => {
                match cutroom_core::queue::dispatch_all(&app.db, app.config.tenant_max_running).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "handed waiting jobs to the queue"),
                    Err(e) => tracing::warn!(error = %e, "handing waiting jobs over failed; will retry"),
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        match sweep_expired_uploads(&app, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "expired abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "sweeping uploads failed; will retry"),
        }
        if let Some(local) = &app.local_store {
            match local.sweep_partials().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "removed temporary files of uploads that died"),
                Err(e) => {
                    tracing::warn!(error = %e, "sweeping temporary upload files failed; will retry")
                }
            }
        }
        match sweep_kept_sources(&app, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "deleted kept sources whose time was up"),
            Err(e) => tracing::warn!(error = %e, "sweeping kept sources failed; will retry"),
        }
        match sweep_spent_originals(&app, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "deleted originals of ended jobs"),
            Err(e) => tracing::warn!(error = %e, "sweeping originals failed; will retry"),
        }
        match workers::forget(&app.db.orm, Utc::now() - chrono::Duration::hours(24)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(count = n, "forgot workers not seen for a day"),
            Err(e) => tracing::warn!(error = %e, "sweeping the worker registry failed; will retry"),
        }
        if let Some(limiter) = &app.limiter {
            limiter.forget_idle();
        }
        app.auth_guard.forget_idle();
        match idempotency::sweep(&app.db.orm, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(count = n, "forgot expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "sweeping idempotency keys failed; will retry"),
        }
    }
}

/// Expires pending uploads whose URL ran out more than the completion grace
/// before `now`, deleting their objects. Returns how many were expired.
/// Public so tests can sweep at a chosen `now` instead of waiting.
pub async fn sweep_expired_uploads(app: &App, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let db = &app.db.orm;
    let grace =
        chrono::Duration::from_std(app.config.upload_grace).unwrap_or(chrono::Duration::MAX);
    let mut expired = 0;
    loop {
        let batch = uploads::expired_pending(db, now - grace, BATCH).await?;
        let full = batch.len() as u64 == BATCH;
        for u in batch {
            // Mark first: once expired, `complete` refuses it, so the object
            // can no longer become a job's source while we delete it.
            if !uploads::mark_expired(db, u.tenant_id, u.id).await? {
                continue;
            }
            expired += 1;
            if let Err(e) = app.store.delete(&u.object_key).await {
                tracing::warn!(error = %e, tenant.id = %u.tenant_id, upload.id = %u.id, "could not delete an expired upload's object");
            }
        }
        if !full {
            return Ok(expired);
        }
    }
}

/// Deletes the kept sources of jobs whose `kept_source_until` is before
/// `now`. Returns how many were deleted. Public so tests can sweep at a
/// chosen `now`.
pub async fn sweep_kept_sources(app: &App, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let db = &app.db.orm;
    let mut deleted = 0;
    loop {
        let batch = jobs::expired_kept_sources(db, now, BATCH).await?;
        let full = batch.len() as u64 == BATCH;
        let before = deleted;
        for job in batch {
            let Some(key) = job.kept_source_key else {
                continue;
            };
            // Deleted first and forgotten after, so a failed delete is
            // tried again at the next sweep. A re-render that starts in
            // between finds the object gone and fails with `source_expired`.
            if let Err(e) = app.store.delete(&key).await {
                tracing::warn!(error = %e, tenant.id = %job.tenant_id, job.id = %job.id, "could not delete a kept source; will retry");
                continue;
            }
            if jobs::clear_kept_source(db, job.tenant_id, job.id, &key).await? {
                deleted += 1;
            }
        }
        // A full batch that could not be deleted would come back the same.
        if !full || deleted == before {
            return Ok(deleted);
        }
    }
}

/// Deletes the uploaded originals of ended jobs that are still stored:
/// those the worker could not delete itself, those of jobs cancelled
/// while queued, and, after [`FAILED_ORIGINAL_RETENTION`], those of jobs
/// that failed for a passing reason. Returns how many were deleted.
pub async fn sweep_spent_originals(app: &App, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let db = &app.db.orm;
    let mut deleted = 0;
    loop {
        let batch = jobs::spent_originals(db, now, FAILED_ORIGINAL_RETENTION, BATCH).await?;
        let full = batch.len() as u64 == BATCH;
        let before = deleted;
        for job in batch {
            let Some(key) = job.source_key else {
                continue;
            };
            // Retried by an admin since it was read: it needs the original.
            if !jobs::take_source_key(db, job.tenant_id, job.id, &key).await? {
                continue;
            }
            if let Err(e) = app.store.delete(&key).await {
                tracing::warn!(error = %e, tenant.id = %job.tenant_id, job.id = %job.id, "could not delete an original; will retry");
                jobs::restore_source_key(db, job.tenant_id, job.id, &key).await?;
                continue;
            }
            deleted += 1;
        }
        if !full || deleted == before {
            return Ok(deleted);
        }
    }
}

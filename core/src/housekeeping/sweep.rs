//! The sweeper's round: what is kept only for a while. A presigned upload
//! that is never completed expires, and whatever was uploaded to it is
//! deleted, as are the temporary files of uploads a crash interrupted; a
//! job's source kept for re-renders is deleted when its time is up; an
//! ended job's uploaded original is deleted (a day after a failure that
//! may pass, so an admin can retry it); idempotency keys are forgotten
//! after 24 hours, and workers not seen for a day. A batch whose last
//! child ended without its check is completed, one whose archive never
//! came is failed.
//!
//! Each step is safe beside another process running the same step (rows
//! are marked before their objects go), so a round that outlives its lease
//! does no harm; the lease only keeps the work from being done twice.

use chrono::{DateTime, Utc};
use sea_orm::DbErr;

use super::Housekeeper;
use crate::queries::{batches, idempotency, jobs, uploads, workers};

const BATCH: u64 = 100;
/// How long the original of a job that failed for a passing reason is kept.
pub const FAILED_ORIGINAL_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// One whole round. Each step's failure is logged and left to the next round.
pub(super) async fn round(app: &Housekeeper, now: DateTime<Utc>) {
    match expired_uploads(app, now).await {
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
    match kept_sources(app, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "deleted kept sources whose time was up"),
        Err(e) => tracing::warn!(error = %e, "sweeping kept sources failed; will retry"),
    }
    match spent_originals(app, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "deleted originals of ended jobs"),
        Err(e) => tracing::warn!(error = %e, "sweeping originals failed; will retry"),
    }
    match finished_batches(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            count = n,
            "ended batches: last job ended unseen, or never uploaded"
        ),
        Err(e) => tracing::warn!(error = %e, "sweeping batches failed; will retry"),
    }
    match workers::forget(&app.db.orm, now - chrono::Duration::hours(24)).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(count = n, "forgot workers not seen for a day"),
        Err(e) => tracing::warn!(error = %e, "sweeping the worker registry failed; will retry"),
    }
    match idempotency::sweep(&app.db.orm, now).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(count = n, "forgot expired idempotency keys"),
        Err(e) => tracing::warn!(error = %e, "sweeping idempotency keys failed; will retry"),
    }
}

/// Completes running batches with no child left: a child ended without
/// its worker's check (cancelled while queued, or the worker died right
/// after); fails batches whose archive's upload expired unused. Returns
/// how many were ended.
pub async fn finished_batches(app: &Housekeeper) -> Result<usize, DbErr> {
    let db = &app.db.orm;
    let mut done = 0;
    for b in batches::running(db, 1000).await? {
        if batches::complete(db, b.tenant_id, b.id).await? {
            done += 1;
        }
    }
    // After the uploads: an archive never sent ends its batch.
    for b in batches::abandoned(db, 1000).await? {
        let why = (
            crate::ErrorCode::UploadMissing.as_str(),
            "the archive was never uploaded before its URL expired; create a new batch",
        );
        if batches::end(
            db,
            b.tenant_id,
            b.id,
            cutroom_entities::BatchStatus::Failed,
            Some(why),
        )
        .await?
        {
            done += 1;
        }
    }
    Ok(done)
}

/// Expires pending uploads whose URL ran out more than the completion grace
/// before `now`, deleting their objects. Returns how many were expired.
/// Public so tests can sweep at a chosen `now` instead of waiting.
pub async fn expired_uploads(app: &Housekeeper, now: DateTime<Utc>) -> Result<usize, DbErr> {
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
            // Parts never put together are dropped too (a bucket's
            // lifecycle rule for incomplete uploads is the backstop).
            if let Some(id) = &u.multipart_id
                && let Err(e) = app.store.abort_multipart(&u.object_key, id).await
            {
                tracing::warn!(error = %e, tenant.id = %u.tenant_id, upload.id = %u.id, "could not drop an expired upload's parts");
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
pub async fn kept_sources(app: &Housekeeper, now: DateTime<Utc>) -> Result<usize, DbErr> {
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
pub async fn spent_originals(app: &Housekeeper, now: DateTime<Utc>) -> Result<usize, DbErr> {
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

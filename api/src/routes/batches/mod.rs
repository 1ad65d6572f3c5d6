//! Batches: an archive (`.tar` or `.tar.gz`) of recordings with metadata
//! (parquet, JSONL or CSV), or a manifest of links, uploaded once through
//! a presigned URL; a worker unpacks it safely and every recording (or
//! link) becomes a child job carrying its metadata row. Create, start,
//! watch, cancel, retry the failed.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::{
    batches::{self, BatchOptions, Counts, Refused, Unmatched},
    queries,
    storage::{UploadedPart, upload_key},
};
use cutroom_entities::{BatchStatus, JobStatus, UploadStatus, batch, upload};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

mod results;

use crate::ProblemCode;
use crate::{
    app::{App, AppState},
    auth::AuthContext,
    error::ApiError,
    extract::{Json, JsonOrEmpty, Path, Query},
    paging,
    routes::jobs::{self, JobPage},
    submit,
    upload_target::{self, UploadTarget},
    validate,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_batch, list_batches))
        .routes(routes!(get_batch))
        .routes(routes!(start_batch))
        .routes(routes!(batch_jobs))
        .routes(routes!(cancel_batch))
        .routes(routes!(retry_batch))
        .routes(routes!(results::batch_results))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatchRequest {
    /// The archive's file name: `.tar`, `.tar.gz` or `.tgz`; or a manifest's:
    /// `.jsonl`, `.ndjson`, `.csv` or `.parquet`, each row a link in
    /// `options.source_column` and its metadata.
    #[schema(example = "recordings-2026-12.tar.gz")]
    pub name: String,
    /// Exact size of the archive; the upload must match it.
    #[schema(minimum = 1)]
    pub size_bytes: u64,
    #[serde(default)]
    pub options: BatchOptions,
    /// Send the archive in parts even when it is not over the threshold
    /// (`CUTROOM_MULTIPART_THRESHOLD_BYTES`, default 5 GiB, above which
    /// it always goes in parts).
    #[serde(default)]
    pub multipart: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchCreated {
    pub batch: Batch,
    /// Where to send the archive; then `POST /v1/batches/{id}/start`.
    pub upload: UploadTarget,
}

/// The body of `POST /v1/batches/{id}/start`: empty, or the parts of an
/// archive sent in parts.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBatchRequest {
    /// Every part, in order, with the ETag its `PUT` answered.
    #[serde(default)]
    pub parts: Vec<UploadedPart>,
}

/// A batch, with its children counted by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Batch {
    pub id: Uuid,
    pub name: String,
    /// `uploading` (until started), `unpacking`, `running`, then
    /// `completed` (every child has ended, some perhaps failed),
    /// `cancelled`, or `failed` (the archive could not be used; `error`
    /// says why).
    pub status: BatchStatus,
    pub size_bytes: i64,
    pub options: BatchOptions,
    /// The job that unpacks the archive (its history has `batch_unpacked`
    /// and `batch_completed`, which are also webhooks).
    pub unpack_job_id: Option<Uuid>,
    /// Recordings and metadata files unpacked; `null` until unpacked.
    pub entries_total: Option<i32>,
    /// The children (one per recording) by status.
    pub jobs: Counts,
    /// Failed children by their error code.
    pub failures: BTreeMap<String, u64>,
    /// Entries not unpacked, each with its reason.
    pub refused: Vec<Refused>,
    /// Metadata rows and recordings that did not find each other.
    pub unmatched: Unmatched,
    /// When the children should all have ended, from the rate they have
    /// ended at so far; `null` before the first ends and after the last.
    pub eta: Option<DateTime<Utc>>,
    /// Children ended per hour so far.
    pub jobs_per_hour: Option<f64>,
    pub error: Option<crate::views::JobError>,
    pub created_at: DateTime<Utc>,
    pub unpacked_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Batch {
    async fn load(app: &App, b: batch::Model) -> Result<Batch, ApiError> {
        let db = &app.db.orm;
        let jobs = queries::batches::counts(db, b.tenant_id, b.id).await?;
        let failures = if jobs.failed > 0 {
            queries::batches::failure_codes(db, b.tenant_id, b.id).await?
        } else {
            BTreeMap::new()
        };
        let now = b.finished_at.unwrap_or_else(Utc::now);
        let eta = b.unpacked_at.and_then(|at| batches::eta(&jobs, at, now));
        let jobs_per_hour = b.unpacked_at.and_then(|at| {
            let hours = (now - at).num_milliseconds() as f64 / 3_600_000.0;
            (jobs.ended() > 0 && hours > 0.0).then(|| jobs.ended() as f64 / hours)
        });
        Ok(Batch {
            id: b.id,
            name: b.name,
            status: b.status,
            size_bytes: b.size_bytes,
            options: serde_json::from_value(b.options).unwrap_or_default(),
            unpack_job_id: b.unpack_job_id,
            entries_total: b.entries_total,
            jobs,
            failures,
            refused: serde_json::from_value(b.refused).unwrap_or_default(),
            unmatched: serde_json::from_value(b.unmatched).unwrap_or_default(),
            eta,
            jobs_per_hour,
            error: b.error_code.map(|code| crate::views::JobError {
                code,
                message: b.error_message.unwrap_or_default(),
            }),
            created_at: b.created_at,
            unpacked_at: b.unpacked_at,
            finished_at: b.finished_at,
        })
    }
}

/// The archive's (or manifest's) media type, from its name.
fn archive_type(name: &str) -> Result<&'static str, ApiError> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar") {
        Ok("application/x-tar")
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Ok("application/gzip")
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Ok("application/x-ndjson")
    } else if lower.ends_with(".csv") {
        Ok("text/csv")
    } else if lower.ends_with(".parquet") {
        Ok("application/vnd.apache.parquet")
    } else {
        Err(ApiError::validation(
            "name must end in .tar, .tar.gz or .tgz (an archive of recordings, gzipped or not), \
             or in .jsonl, .ndjson, .csv or .parquet (a manifest of links)",
        ))
    }
}

/// Start a batch: returns the batch and a presigned URL to `PUT` its
/// archive to; then `POST /v1/batches/{id}/start`.
#[utoipa::path(
    post, path = "/v1/batches", tag = "batches", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body get the first response again for 24 hours")),
    request_body = CreateBatchRequest,
    responses(
        (status = 201, description = "Batch created; PUT the archive to `upload.url`, or its parts to `upload.multipart.parts`", body = BatchCreated),
        (status = 400, description = "`invalid_idempotency_key`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: viewers cannot create batches", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_in_progress`: the first request with this key is still running", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "`upload_too_large`: over `CUTROOM_MAX_BATCH_BYTES`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `idempotency_key_reused`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `quota_exceeded`; or `budget_exceeded`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_batch(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateBatchRequest>,
) -> Result<(StatusCode, Json<BatchCreated>), ApiError> {
    ctx.require_write()?;
    let name = validate::text("name", &req.name, 255)?;
    let content_type = archive_type(&name)?;
    req.options.validate().map_err(ApiError::validation)?;
    let mut options = req.options;
    options.key_column = options.key_column.trim().to_owned();
    options.source_column = options.source_column.trim().to_owned();
    options.job = submit::batch_options(&state, &ctx, options.job).await?;
    if req.size_bytes == 0 {
        return Err(ApiError::validation("size_bytes must be at least 1"));
    }
    let max = state.config.max_batch_bytes;
    if req.size_bytes > max {
        return Err(too_large(format!(
            "size_bytes is {} but the largest batch archive accepted is {max} bytes",
            req.size_bytes
        )));
    }
    let size = i64::try_from(req.size_bytes)
        .map_err(|_| ApiError::validation("size_bytes is out of range"))?;
    let upload_id = Uuid::now_v7();
    let key = upload_key(ctx.tenant_id, upload_id, &name);
    let offer =
        upload_target::offer(&state, &key, content_type, req.size_bytes, req.multipart).await?;
    let now = Utc::now();
    let db = &state.db.orm;
    let tx = cutroom_core::db::begin_write(db).await?;
    upload::Model {
        id: upload_id,
        tenant_id: ctx.tenant_id,
        filename: name.clone(),
        content_type: content_type.to_owned(),
        size_bytes: size,
        object_key: key,
        status: UploadStatus::Pending,
        expires_at: offer.target.expires_at,
        job_id: None,
        created_at: now,
        multipart_id: offer.multipart_id,
        part_size: offer.part_size,
    }
    .into_active_model()
    .insert(&tx)
    .await?;
    let row = queries::batches::insert(
        &tx,
        batch::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            name,
            status: BatchStatus::Uploading,
            upload_id,
            size_bytes: size,
            options: serde_json::to_value(&options).expect("plain data"),
            unpack_job_id: None,
            entries_total: None,
            refused: serde_json::json!([]),
            unmatched: serde_json::to_value(Unmatched::default()).expect("plain data"),
            error_code: None,
            error_message: None,
            created_by: ctx.actor(),
            created_at: now,
            updated_at: now,
            unpacked_at: None,
            finished_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(batch.id = %row.id, size = req.size_bytes, "batch created");
    let body = BatchCreated {
        batch: Batch::load(&state, row).await?,
        upload: offer.target,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

fn too_large(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ProblemCode::UploadTooLarge,
        detail,
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListBatchesQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// Newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchPage {
    pub items: Vec<Batch>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// List the tenant's batches, newest first.
#[utoipa::path(
    get, path = "/v1/batches", tag = "batches", security(("bearer" = [])),
    params(ListBatchesQuery),
    responses(
        (status = 200, description = "A page of batches", body = BatchPage),
        (status = 422, description = "`validation_failed`: limit out of range", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_batches(
    state: AppState,
    ctx: AuthContext,
    Query(q): Query<ListBatchesQuery>,
) -> Result<Json<BatchPage>, ApiError> {
    let limit = paging::limit(q.limit, 20)?;
    let rows = queries::batches::list(&state.db.orm, ctx.tenant_id, q.cursor, paging::fetch(limit))
        .await?;
    let (rows, next_cursor) = paging::split(rows, limit, |b| b.id);
    let mut items = Vec::with_capacity(rows.len());
    for b in rows {
        items.push(Batch::load(&state, b).await?);
    }
    Ok(Json(BatchPage { items, next_cursor }))
}

async fn find(app: &App, ctx: &AuthContext, id: Uuid) -> Result<batch::Model, ApiError> {
    queries::batches::get(&app.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("batch"))
}

/// A batch: its counters, ETA, refused entries and unmatched metadata.
#[utoipa::path(
    get, path = "/v1/batches/{id}", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = Batch),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_batch(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Batch>, ApiError> {
    let b = find(&state, &ctx, id).await?;
    Ok(Json(Batch::load(&state, b).await?))
}

/// The archive is uploaded: check it and queue the job that unpacks it.
/// An archive sent in parts lists them (`{"parts": [...]}`); they are put
/// together first.
#[utoipa::path(
    post, path = "/v1/batches/{id}/start", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id")),
    request_body(content = Option<StartBatchRequest>, description = "Optional"),
    responses(
        (status = 202, description = "Unpacking is queued", body = Batch),
        (status = 403, description = "`forbidden`: viewers cannot start batches", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_missing`: nothing was uploaded (or, sent in parts, no `parts` were listed); `upload_in_progress`: its PUT has not ended; `conflict`: already started", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`upload_parts_invalid`: a part missing, out of order or with another ETag (send it again and start again); `upload_size_mismatch`; `validation_failed`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `quota_exceeded`; or `budget_exceeded`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn start_batch(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    JsonOrEmpty(req): JsonOrEmpty<StartBatchRequest>,
) -> Result<(StatusCode, Json<Batch>), ApiError> {
    ctx.require_write()?;
    let b = find(&state, &ctx, id).await?;
    if b.status != BatchStatus::Uploading {
        return Err(ApiError::conflict(format!(
            "the batch was started already (it is {})",
            serde_json::to_value(b.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )));
    }
    let options: BatchOptions = serde_json::from_value(b.options.clone())
        .map_err(|e| ApiError::internal(format!("the batch's options could not be read: {e}")))?;
    let db = &state.db.orm;
    let job_id = Uuid::now_v7();
    if !queries::batches::start(db, ctx.tenant_id, id, job_id).await? {
        return Err(ApiError::conflict(
            "the batch was started (or cancelled) meanwhile",
        ));
    }
    if let Err(e) = submit::batch_unpack(&state, &ctx, &b, job_id, options.job, &req.parts).await {
        // The upload is not there (or not whole) yet: it may be started again.
        queries::batches::unstart(db, ctx.tenant_id, id).await?;
        return Err(e);
    }
    tracing::info!(batch.id = %id, job.id = %job_id, "batch started");
    let b = find(&state, &ctx, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Batch::load(&state, b).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchJobsQuery {
    /// Only children in this status.
    pub status: Option<JobStatus>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// The batch's children, one per recording, in archive order, each with
/// its archive path and metadata row.
#[utoipa::path(
    get, path = "/v1/batches/{id}/jobs", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id"), BatchJobsQuery),
    responses(
        (status = 200, description = "A page of the batch's jobs", body = JobPage),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit out of range", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn batch_jobs(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Query(q): Query<BatchJobsQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let limit = paging::limit(q.limit, 50)?;
    find(&state, &ctx, id).await?;
    let jobs = queries::batches::children(
        &state.db.orm,
        ctx.tenant_id,
        id,
        q.status,
        q.cursor,
        paging::fetch(limit),
    )
    .await?;
    let (jobs, next_cursor) = paging::split(jobs, limit, |j| j.id);
    Ok(Json(JobPage {
        items: jobs.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Cancel a batch: its unpacking and every child not ended yet.
#[utoipa::path(
    post, path = "/v1/batches/{id}/cancel", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 200, description = "Cancelled (children running stop within seconds)", body = Batch),
        (status = 403, description = "`forbidden`: viewers cannot cancel", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the batch has ended", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn cancel_batch(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Batch>, ApiError> {
    ctx.require_write()?;
    let db = &state.db.orm;
    find(&state, &ctx, id).await?;
    // The batch first: an unpack job still running then creates no more
    // children (it checks the batch before each).
    if !queries::batches::end(db, ctx.tenant_id, id, BatchStatus::Cancelled, None).await? {
        return Err(ApiError::conflict("the batch has ended"));
    }
    // As `POST /v1/jobs/{id}/cancel` does for each: a queued job ends at
    // once (with its event), a running one's worker ends it.
    let open = queries::batches::unfinished_children(db, ctx.tenant_id, id).await?;
    for job_id in &open {
        if let Some(job) = queries::jobs::request_cancel(db, ctx.tenant_id, *job_id).await?
            && job.status == JobStatus::Cancelled
        {
            jobs::cancelled_event(&state, &job).await?;
        }
    }
    jobs::free_slot(&state, ctx.tenant_id).await;
    tracing::info!(batch.id = %id, jobs = open.len(), "batch cancelled");
    let b = find(&state, &ctx, id).await?;
    Ok(Json(Batch::load(&state, b).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRetried {
    /// Failed children sent back in line.
    pub requeued: u64,
    /// Failed children that cannot run again: their failure would repeat
    /// (unreadable media, a conversion that does not check out), so their
    /// recording was not kept.
    pub not_retryable: u64,
    pub batch: Batch,
}

/// Run the batch's failed children again (those whose recording is still
/// stored: a failure that may pass keeps it for a day). Admins and owners
/// only, as for one job's retry.
#[utoipa::path(
    post, path = "/v1/batches/{id}/retry", tag = "batches", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 200, description = "What was sent back in line", body = BatchRetried),
        (status = 403, description = "`forbidden`: not an admin (as for `POST /v1/jobs/{id}/retry`)", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the batch is not running or completed", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn retry_batch(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<BatchRetried>, ApiError> {
    ctx.require_admin()?;
    let db = &state.db.orm;
    let b = find(&state, &ctx, id).await?;
    if !matches!(b.status, BatchStatus::Running | BatchStatus::Completed) {
        return Err(ApiError::conflict(
            "only a running or completed batch's failed jobs can run again",
        ));
    }
    let failed = queries::batches::counts(db, ctx.tenant_id, id)
        .await?
        .failed;
    let ids = queries::batches::retryable_children(db, ctx.tenant_id, id).await?;
    let mut requeued = 0;
    if !ids.is_empty() {
        queries::batches::reopen(db, ctx.tenant_id, id).await?;
    }
    for job_id in ids {
        if queries::jobs::requeue(db, ctx.tenant_id, job_id)
            .await?
            .is_some()
        {
            cutroom_core::queries::events::record(
                db,
                ctx.tenant_id,
                job_id,
                cutroom_core::events::JobEvent::Status(
                    cutroom_core::events::StatusChange::Requeued,
                ),
                Some(serde_json::json!({ "by": ctx.actor(), "batch_id": id })),
            )
            .await?;
            requeued += 1;
        }
    }
    if requeued > 0 {
        jobs::free_slot(&state, ctx.tenant_id).await;
    }
    // Nothing was requeued after all: a completed batch stays completed.
    queries::batches::complete_if_done(db, ctx.tenant_id, id).await?;
    let b = find(&state, &ctx, id).await?;
    Ok(Json(BatchRetried {
        requeued,
        not_retryable: failed - requeued.min(failed),
        batch: Batch::load(&state, b).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_named_as_tar_or_tar_gz() {
        assert_eq!(archive_type("a.tar").unwrap(), "application/x-tar");
        assert_eq!(archive_type("A.TAR.GZ").unwrap(), "application/gzip");
        assert_eq!(archive_type("a.tgz").unwrap(), "application/gzip");
        for bad in ["a.zip", "a.gz", "tar", "a.tar.bz2"] {
            assert!(archive_type(bad).is_err(), "{bad}");
        }
    }
}

//! Jobs: submit, list, inspect, cancel, delete.

use axum::{
    extract::RawQuery,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use cutroom_core::{
    events::{self, StatusChange},
    jobs::JobOptions,
    queries,
    storage::job_prefix,
};
use cutroom_entities::JobStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::{App, AppState},
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path, Query},
    live, submit,
    views::{Job, JobEvent, JobSummary},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job, delete_job))
        .routes(routes!(job_events))
        .routes(routes!(cancel_job))
        .routes(routes!(retry_job))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    pub source: SourceInput,
    #[serde(default)]
    pub options: JobOptions,
    /// Hours to keep the source after the job succeeds, so its clips can be
    /// re-rendered (`POST /v1/jobs/{id}/clips`); 0-168, default 0: the
    /// source is deleted as soon as it has been processed.
    #[serde(default)]
    #[schema(maximum = 168)]
    pub keep_source_hours: u32,
}

/// Where the video comes from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceInput {
    /// A YouTube video: `/watch?v=`, `youtu.be/`, `/shorts/`, `/embed/` or `/live/` URLs.
    Youtube { url: String },
    /// A completed presigned upload (same checks as `POST /v1/uploads/{id}/complete`;
    /// an upload sent in parts lists them).
    Upload {
        upload_id: Uuid,
        #[serde(default)]
        parts: Vec<cutroom_core::storage::UploadedPart>,
    },
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListJobsQuery {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only the re-renders of this job.
    pub parent_id: Option<Uuid>,
    /// Only the children of this batch (one per file of its archive).
    /// Without it (or a `metadata.` filter), batch children are left out:
    /// each batch is listed by the job that unpacks it.
    pub batch_id: Option<Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// Newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// Submit a job.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body get the first response again for 24 hours, with `Idempotent-Replayed: true`")),
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "Queued", body = Job),
        (status = 400, description = "`invalid_idempotency_key`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: viewers cannot create jobs", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such upload", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_missing`, `conflict`, `idempotency_in_progress`", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_source_url`, `upload_size_mismatch`, `upload_parts_invalid`, `validation_failed`, `idempotency_key_reused`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `quota_exceeded`: the tenant's monthly media minutes are used up; or `budget_exceeded`: its monthly budget is spent and its settings say jobs then stop (`Retry-After`: seconds until the month ends)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_job(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateJobRequest>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_write()?;
    let job = match req.source {
        SourceInput::Youtube { url } => {
            submit::from_url(&state, &ctx, &url, req.options, req.keep_source_hours).await?
        }
        SourceInput::Upload { upload_id, parts } => {
            submit::from_upload(
                &state,
                &ctx,
                upload_id,
                req.options,
                req.keep_source_hours,
                &parts,
            )
            .await?
        }
    };
    tracing::info!(job.id = %job.id, source = ?job.source_type, "job created");
    Ok((StatusCode::CREATED, Json(Job::load(&state, job).await?)))
}

/// List jobs, newest first; with `Accept: text/event-stream`, every change
/// to the tenant's jobs, live.
///
/// The stream sends a `job` event (a `JobSummary`) whenever a job is
/// created or its status, stage or progress moves, starting with the
/// changes of the last ten seconds; the query parameters do not apply to it.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs", security(("bearer" = [])),
    params(
        ListJobsQuery,
        ("metadata.{field}" = Option<String>, Query, description = "`metadata.<field>=<value>`, up to 8 of them: only batch children whose metadata row has each field equal to the value (a number or boolean as written: `metadata.speakers=2`). Field names are 1-128 letters, digits, `_` or `-`."),
    ),
    responses(
        (status = 200, description = "A page of jobs; or the live stream of changes", content(
            (JobPage = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 400, description = "`invalid_query`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit out of range", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: see `Retry-After`; `too_many_streams`: this credential or tenant has as many live streams open as allowed", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_jobs(
    state: AppState,
    ctx: AuthContext,
    headers: HeaderMap,
    Query(q): Query<ListJobsQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    if live::wants_stream(&headers) {
        return Ok(live::tenant_stream(state.0.clone(), &ctx)?.into_response());
    }
    let metadata = metadata_filters(raw.as_deref().unwrap_or_default())?;
    let limit = crate::paging::limit(q.limit, 20)?;
    let jobs = queries::jobs::list(
        &state.db.orm,
        ctx.tenant_id,
        queries::jobs::ListFilter {
            status: q.status,
            parent_id: q.parent_id,
            batch_id: q.batch_id,
            metadata,
        },
        q.cursor,
        crate::paging::fetch(limit),
    )
    .await?;
    let (jobs, next_cursor) = crate::paging::split(jobs, limit, |j| j.id);
    Ok(Json(JobPage {
        items: jobs.into_iter().map(Into::into).collect(),
        next_cursor,
    })
    .into_response())
}

/// The `metadata.<field>=<value>` pairs of a query string.
pub(super) fn metadata_filters(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(field) = name.strip_prefix("metadata.") else {
            continue;
        };
        if !queries::jobs::metadata_field_ok(field) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidQuery,
                format!(
                    "metadata.{field}: a metadata field name is 1 to 128 letters, digits, `_` or `-`"
                ),
            ));
        }
        if out.len() == 8 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidQuery,
                "at most 8 metadata filters",
            ));
        }
        out.push((field.to_owned(), value.into_owned()));
    }
    Ok(out)
}

/// A job with its outputs and short-lived download links.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_job(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Job>, ApiError> {
    let job = queries::jobs::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(Job::load(&state, job).await?))
}

/// A job's history, oldest first; with `Accept: text/event-stream`, the
/// same events live as Server-Sent Events.
///
/// The stream sends each stored event as it is written (the SSE `event` is
/// its `kind`, the `id` its id: reconnect with `Last-Event-ID` to resume),
/// `progress` (`{status, stage, progress}`) whenever the job moves, and
/// `end` (`{status, error}`) once the job has ended, after which it closes.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events", tag = "jobs", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Job id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Streams only: resume after this event id"),
    ),
    responses(
        (status = 200, description = "Events, oldest first; or the live stream", content(
            (Vec<JobEvent> = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: see `Retry-After`; `too_many_streams`: this credential or tenant has as many live streams open as allowed", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn job_events(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let db = &state.db.orm;
    let job = queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if live::wants_stream(&headers) {
        let after = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<Uuid>().ok());
        return Ok(live::stream(state.0.clone(), &ctx, job, after)?.into_response());
    }
    let events = queries::events::list(db, ctx.tenant_id, id).await?;
    let events: Vec<JobEvent> = events.into_iter().map(Into::into).collect();
    Ok(Json(events).into_response())
}

/// Cancel a job. A queued job ends at once; a running one stops at its next checkpoint.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 202, description = "Cancellation requested (or done, for a queued job)", body = Job),
        (status = 403, description = "`forbidden`: viewers cannot cancel", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`job_finished`: the job already ended", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn cancel_job(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_write()?;
    let db = &state.db.orm;
    let job = queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if job.status.is_terminal() {
        return Err(job_finished(job.status));
    }
    let job = queries::jobs::request_cancel(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if job.status == JobStatus::Cancelled {
        // Ended here, before any worker took it; a running job's worker
        // records its own end and frees its slot.
        cancelled_event(&state, &job).await?;
        free_slot(&state, ctx.tenant_id).await;
    }
    tracing::info!(job.id = %id, "cancellation requested");
    Ok((StatusCode::ACCEPTED, Json(Job::load(&state, job).await?)))
}

/// Run a failed or cancelled job again from the start (admins): the
/// dead-letter's way out once the cause is fixed. Its history keeps every
/// attempt; its outputs are replaced by the new run's.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/retry", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 202, description = "Queued again", body = Job),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`job_not_finished` (queued or running), `job_succeeded`, `source_gone`: the uploaded original was already deleted", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`source_expired`: a re-render whose kept source was deleted", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn retry_job(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_admin()?;
    let db = &state.db.orm;
    let job = queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    match job.status {
        JobStatus::Queued | JobStatus::Running => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::JobNotFinished,
                "the job has not ended; only failed or cancelled jobs are retried",
            ));
        }
        JobStatus::Succeeded => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::JobSucceeded,
                "the job succeeded; submit it again to process the source anew",
            ));
        }
        JobStatus::Failed | JobStatus::Cancelled => {}
    }
    submit::check_retry_source(&state, &job).await?;
    let job = queries::jobs::requeue(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::conflict("the job changed meanwhile; look at it again"))?;
    queries::events::record(
        db,
        job.tenant_id,
        job.id,
        events::JobEvent::Status(StatusChange::Requeued),
        Some(serde_json::json!({ "by": ctx.actor_id() })),
    )
    .await?;
    free_slot(&state, ctx.tenant_id).await;
    // Read again: it may have gone to the workers already.
    let job = queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    tracing::info!(job.id = %id, "job retried");
    Ok((StatusCode::ACCEPTED, Json(Job::load(&state, job).await?)))
}

/// Delete a job, its outputs, its kept source, its re-renders and (if the
/// worker has not taken it yet) its uploaded original.
#[utoipa::path(
    delete, path = "/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: viewers cannot delete", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`job_running`: cancel it (or its running re-render) first", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn delete_job(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.require_write()?;
    let db = &state.db.orm;
    let mut job = queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    if job.status == JobStatus::Queued {
        // Cancel first, so a worker picking it up now finds nothing to do.
        job = queries::jobs::request_cancel(db, ctx.tenant_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("job"))?;
    }
    if job.status == JobStatus::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::JobRunning,
            "the job is running; cancel it and wait for it to stop",
        ));
    }
    // Its re-renders go with it: they are clips of the same source.
    let mut renders = Vec::new();
    for child in queries::jobs::children(db, ctx.tenant_id, id).await? {
        let child = if child.status == JobStatus::Queued {
            queries::jobs::request_cancel(db, ctx.tenant_id, child.id)
                .await?
                .unwrap_or(child)
        } else {
            child
        };
        if child.status == JobStatus::Running {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::JobRunning,
                format!(
                    "a re-render of this job ({}) is running; cancel it and wait for it to stop",
                    child.id
                ),
            ));
        }
        renders.push(child.id);
    }
    for render in renders {
        remove(&state, ctx.tenant_id, render, None).await?;
    }
    // Forgotten before it is deleted, so a re-render asked for meanwhile
    // is refused rather than started on a missing source.
    if let Some(key) = &job.kept_source_key {
        queries::jobs::clear_kept_source(db, ctx.tenant_id, id, key).await?;
        state.store.delete(key).await?;
    }
    // Samples of the speaker library taken from it go with it (foreign
    // key); the relabel round names the other jobs again without them.
    let had_samples = queries::speakers::samples_from_job(db, ctx.tenant_id, id).await? > 0;
    remove(&state, ctx.tenant_id, id, job.source_key.as_deref()).await?;
    if had_samples {
        queries::speakers::changed(db, ctx.tenant_id).await?;
    }
    free_slot(&state, ctx.tenant_id).await;
    tracing::info!(job.id = %id, "job deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one job's outputs, its uploaded original if it still has one,
/// and its row.
async fn remove(
    app: &App,
    tenant_id: Uuid,
    id: Uuid,
    source_key: Option<&str>,
) -> Result<(), ApiError> {
    app.store.delete_prefix(&job_prefix(tenant_id, id)).await?;
    if let Some(key) = source_key {
        app.store.delete(key).await?;
    }
    queries::jobs::delete(&app.db.orm, tenant_id, id).await?;
    Ok(())
}

/// Hands the tenant's next waiting jobs to the queue after one of its jobs
/// ended (or came back) here. A failure is logged; the sweeper catches up.
pub(super) async fn free_slot(app: &App, tenant_id: Uuid) {
    if let Err(e) =
        cutroom_core::queue::dispatch(&app.db, tenant_id, app.config.tenant_max_running).await
    {
        tracing::warn!(error = %e, "could not hand the tenant's next job to the queue");
    }
}

/// The history entry (and webhook) of a queued job cancelled by the API.
pub(super) async fn cancelled_event(
    app: &App,
    job: &cutroom_entities::job::Model,
) -> Result<(), ApiError> {
    queries::events::record(
        &app.db.orm,
        job.tenant_id,
        job.id,
        events::JobEvent::Status(StatusChange::Cancelled),
        Some(serde_json::json!({ "code": "cancelled" })),
    )
    .await?;
    Ok(())
}

fn job_finished(status: JobStatus) -> ApiError {
    let status = serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::CONFLICT,
        ProblemCode::JobFinished,
        format!("the job already ended ({status})"),
    )
}

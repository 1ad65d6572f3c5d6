//! Turning a source into a queued job. `POST /v1/jobs` and
//! `POST /v1/uploads/{id}/complete` both end here, so an upload is checked
//! the same way whichever door it comes through.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use cutroom_core::{jobs::JobOptions, queries, queue};
use cutroom_entities::{JobStatus, SourceType, UploadStatus, job, upload};
use uuid::Uuid;

use crate::{app::App, auth::AuthContext, error::ApiError, source_url};

/// A job for a URL that passed the SSRF guard.
pub async fn from_url(
    app: &App,
    ctx: &AuthContext,
    url: &str,
    options: JobOptions,
) -> Result<job::Model, ApiError> {
    let options = resolve_options(app, ctx, options).await?;
    let url = source_url::validate(url, &app.config.extra_source_hosts).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_source_url",
            e.to_string(),
        )
    })?;
    let job = new_job(ctx, SourceType::Youtube, Some(url), None, None, &options);
    queue::create_job(&app.db, job, None)
        .await
        .map_err(ApiError::internal)
}

/// A job for an upload whose bytes are in storage with the declared size.
pub async fn from_upload(
    app: &App,
    ctx: &AuthContext,
    upload_id: Uuid,
    options: JobOptions,
) -> Result<job::Model, ApiError> {
    let options = resolve_options(app, ctx, options).await?;
    let db = &app.db.orm;
    let upload = queries::uploads::get(db, ctx.tenant_id, upload_id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    let grace = Duration::from_std(app.config.upload_grace).unwrap_or(Duration::MAX);
    check_pending(&upload, Utc::now(), grace)?;
    let declared = u64::try_from(upload.size_bytes).unwrap_or_default();
    match app.store.head(&upload.object_key).await? {
        None => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "upload_missing",
                "nothing has been uploaded to the presigned URL; PUT the file first",
            ));
        }
        Some(meta) if meta.size != declared => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "upload_size_mismatch",
                format!(
                    "the uploaded object has {} bytes but {declared} were declared",
                    meta.size
                ),
            ));
        }
        Some(_) => {}
    }
    let job = new_job(
        ctx,
        SourceType::Upload,
        None,
        Some(upload.id),
        Some(upload.object_key.clone()),
        &options,
    );
    match queue::create_job(&app.db, job, Some(upload.id)).await {
        Ok(job) => Ok(job),
        Err(queue::EnqueueError::UploadNotPending) => {
            // Completed or swept by someone else between our checks and the write.
            let now = queries::uploads::get(db, ctx.tenant_id, upload_id)
                .await?
                .ok_or_else(|| ApiError::not_found("upload"))?;
            Err(check_pending(&now, Utc::now(), grace)
                .err()
                .unwrap_or_else(|| ApiError::conflict("the upload changed meanwhile")))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Checks a job's options against the defaults that apply to its tenant,
/// then writes the tenant's defaults into them: the worker reads the job's
/// options first, and runs what was checked even if the tenant's settings
/// change while the job waits.
async fn resolve_options(
    app: &App,
    ctx: &AuthContext,
    mut options: JobOptions,
) -> Result<JobOptions, ApiError> {
    let settings = queries::tenants::settings(&app.db.orm, ctx.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the tenant no longer exists"))?;
    options
        .validate(settings.default_model(&app.config.whisper_model))
        .map_err(ApiError::validation)?;
    if let Some(provider) = options.analysis.provider
        && let Some(why) = settings.analysis.unusable(provider)
    {
        return Err(ApiError::validation(format!(
            "options.analysis.provider cannot be {}: {why}",
            provider.name()
        )));
    }
    settings.fill_in(&mut options);
    Ok(options)
}

/// Only a pending upload whose URL has not long expired can become a job.
/// An upload can still be completed `grace` after its URL expired: a `PUT`
/// that started just before the deadline may finish after it.
fn check_pending(u: &upload::Model, now: DateTime<Utc>, grace: Duration) -> Result<(), ApiError> {
    match u.status {
        UploadStatus::Completed => Err(ApiError::conflict(match u.job_id {
            Some(job) => format!("the upload was already completed by job {job}"),
            None => "the upload was already completed".to_owned(),
        })),
        UploadStatus::Expired => Err(expired()),
        UploadStatus::Pending if u.expires_at + grace < now => Err(expired()),
        UploadStatus::Pending => Ok(()),
    }
}

fn expired() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "upload_expired",
        "the upload expired before it was completed; start a new one",
    )
}

fn new_job(
    ctx: &AuthContext,
    source_type: SourceType,
    source_url: Option<String>,
    upload_id: Option<Uuid>,
    source_key: Option<String>,
    options: &JobOptions,
) -> job::Model {
    let now = Utc::now();
    job::Model {
        id: Uuid::now_v7(),
        tenant_id: ctx.tenant_id,
        source_type,
        source_url,
        upload_id,
        source_key,
        options: serde_json::to_value(options).expect("options are plain data"),
        status: JobStatus::Queued,
        stage: None,
        progress: 0,
        error_code: None,
        error_message: None,
        cancel_requested: false,
        media: None,
        created_by: ctx.actor(),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    }
}

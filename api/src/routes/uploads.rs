//! Presigned uploads: the client puts the bytes straight into object
//! storage, then completes the upload, which checks them and creates the job.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::{jobs::JobOptions, storage::upload_key};
use cutroom_entities::{UploadStatus, upload};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, JsonOrEmpty, Path},
    submit, validate,
    views::Job,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload))
        .routes(routes!(complete_upload))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadRequest {
    #[schema(example = "talk.mp4")]
    pub filename: String,
    /// An `audio/*` or `video/*` media type.
    #[schema(example = "video/mp4")]
    pub content_type: String,
    /// Exact size of the file; the upload must match it.
    #[schema(minimum = 1)]
    pub size_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadCreated {
    pub upload_id: Uuid,
    /// Send the file here with `method`, exactly `size_bytes` bytes, and `headers`.
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// Headers to send exactly as given (they are part of the signature).
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadRequest {
    #[serde(default)]
    pub options: JobOptions,
    /// As for `POST /v1/jobs`: hours to keep the source after the job
    /// succeeds, so its clips can be re-rendered (0-168, default 0).
    #[serde(default)]
    pub keep_source_hours: u32,
}

/// The `type/subtype` part of an audio or video media type, lower-cased.
fn media_type(raw: &str) -> Result<String, ApiError> {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some(("audio" | "video", sub)) if token(sub) => Ok(essence),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::UnsupportedContentType,
            format!("content_type must be an audio/* or video/* media type, not {raw:?}"),
        )),
    }
}

/// Start an upload: returns a presigned URL to `PUT` the file to.
#[utoipa::path(
    post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body get the first response again for 24 hours")),
    request_body = CreateUploadRequest,
    responses(
        (status = 201, description = "Upload started; PUT the file to `url`", body = UploadCreated),
        (status = 400, description = "`invalid_idempotency_key`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: viewers cannot upload", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_in_progress`: the first request with this key is still running", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "`upload_too_large`: over the configured maximum", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`unsupported_content_type`, `validation_failed`, `idempotency_key_reused`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; or `quota_exceeded`: the tenant's monthly media minutes are used up (`Retry-After`: seconds until the quota resets)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_upload(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateUploadRequest>,
) -> Result<(StatusCode, Json<UploadCreated>), ApiError> {
    ctx.require_write()?;
    let filename = validate::text("filename", &req.filename, 255)?;
    // Before any byte is sent: an upload could not become a job anyway.
    crate::submit::check_quota(&state, ctx.tenant_id).await?;
    let content_type = media_type(&req.content_type)?;
    if req.size_bytes == 0 {
        return Err(ApiError::validation("size_bytes must be at least 1"));
    }
    let max = state.config.max_upload_bytes;
    if req.size_bytes > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::UploadTooLarge,
            format!(
                "size_bytes is {} but the largest upload accepted is {max} bytes",
                req.size_bytes
            ),
        ));
    }
    let size = i64::try_from(req.size_bytes)
        .map_err(|_| ApiError::validation("size_bytes is out of range"))?;
    let id = Uuid::now_v7();
    let key = upload_key(ctx.tenant_id, id, &filename);
    let put = state
        .store
        .presign_put(
            &key,
            &content_type,
            req.size_bytes,
            state.config.upload_url_ttl,
        )
        .await?;
    upload::Model {
        id,
        tenant_id: ctx.tenant_id,
        filename,
        content_type,
        size_bytes: size,
        object_key: key,
        status: UploadStatus::Pending,
        expires_at: put.expires_at,
        job_id: None,
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&state.db.orm)
    .await?;
    let body = UploadCreated {
        upload_id: id,
        url: put.url,
        method: put.method,
        headers: put.headers,
        expires_at: put.expires_at,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Finish an upload: checks the object and creates its job.
///
/// The body is optional; send `{"options": {...}}` to set job options.
#[utoipa::path(
    post, path = "/v1/uploads/{id}/complete", tag = "uploads", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Upload id")),
    request_body(content = Option<CompleteUploadRequest>, description = "Optional"),
    responses(
        (status = 201, description = "The job, queued", body = Job),
        (status = 403, description = "`forbidden`: viewers cannot create jobs", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_missing`: nothing was uploaded; `upload_in_progress`: its PUT has not ended; `conflict`: already completed", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`upload_size_mismatch` or `validation_failed`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; or `quota_exceeded`: the tenant's monthly media minutes are used up (`Retry-After`: seconds until the quota resets)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn complete_upload(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    JsonOrEmpty(req): JsonOrEmpty<CompleteUploadRequest>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_write()?;
    let job = submit::from_upload(&state, &ctx, id, req.options, req.keep_source_hours).await?;
    tracing::info!(job.id = %job.id, upload.id = %id, "upload completed");
    Ok((StatusCode::CREATED, Json(Job::load(&state, job).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_audio_and_video_media_types() {
        assert_eq!(media_type("video/mp4").unwrap(), "video/mp4");
        assert_eq!(media_type("Audio/MPEG; charset=x").unwrap(), "audio/mpeg");
        assert_eq!(media_type("video/x-matroska").unwrap(), "video/x-matroska");
        for bad in [
            "application/octet-stream",
            "image/png",
            "video/",
            "video",
            "",
            "text/plain",
            "video/mp4 x",
        ] {
            assert_eq!(
                media_type(bad).unwrap_err().code(),
                "unsupported_content_type",
                "{bad}"
            );
        }
    }
}

//! Presigned uploads: the client puts the bytes straight into object
//! storage, then completes the upload, which checks them and creates the job.

use axum::http::StatusCode;
use chrono::Utc;
use cutroom_core::{
    jobs::JobOptions,
    storage::{UploadedPart, upload_key},
};
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
    submit,
    upload_target::{self, UploadTarget},
    validate,
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
    /// Send the file in parts even when it is not over the threshold
    /// (`CUTROOM_MULTIPART_THRESHOLD_BYTES`, above which it always goes in
    /// parts): parts go several at once, and a failed one is sent again
    /// alone.
    #[serde(default)]
    pub multipart: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadCreated {
    pub upload_id: Uuid,
    #[serde(flatten)]
    pub target: UploadTarget,
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
    /// For an upload sent in parts: every part, in order, with the ETag
    /// its `PUT` answered.
    #[serde(default)]
    pub parts: Vec<UploadedPart>,
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

/// Start an upload: returns a presigned URL to `PUT` the file to, or
/// presigned URLs for its parts (`multipart`).
#[utoipa::path(
    post, path = "/v1/uploads", tag = "uploads", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry safely: the same key and body get the first response again for 24 hours")),
    request_body = CreateUploadRequest,
    responses(
        (status = 201, description = "Upload started; PUT the file to `url`, or its parts to `multipart.parts`", body = UploadCreated),
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
    let offer =
        upload_target::offer(&state, &key, &content_type, req.size_bytes, req.multipart).await?;
    upload::Model {
        id,
        tenant_id: ctx.tenant_id,
        filename,
        content_type,
        size_bytes: size,
        object_key: key,
        status: UploadStatus::Pending,
        expires_at: offer.target.expires_at,
        job_id: None,
        created_at: Utc::now(),
        multipart_id: offer.multipart_id,
        part_size: offer.part_size,
    }
    .into_active_model()
    .insert(&state.db.orm)
    .await?;
    let body = UploadCreated {
        upload_id: id,
        target: offer.target,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Finish an upload: checks the object and creates its job.
///
/// The body is optional; send `{"options": {...}}` to set job options. An
/// upload sent in parts lists them: `{"parts": [{"part_number": 1,
/// "etag": "..."}, ...]}`; they are put together first.
#[utoipa::path(
    post, path = "/v1/uploads/{id}/complete", tag = "uploads", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Upload id")),
    request_body(content = Option<CompleteUploadRequest>, description = "Optional"),
    responses(
        (status = 201, description = "The job, queued", body = Job),
        (status = 403, description = "`forbidden`: viewers cannot create jobs", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_missing`: nothing was uploaded (or, sent in parts, no `parts` were listed); `upload_in_progress`: its PUT has not ended; `conflict`: already completed", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`upload_parts_invalid`: a part missing, out of order, or with another ETag (the parts stay: send the part again and complete again); `upload_size_mismatch` or `validation_failed`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `quota_exceeded`: the tenant's monthly media minutes are used up; or `budget_exceeded`: its monthly budget is spent and its settings say jobs then stop (`Retry-After`: seconds until the month ends)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn complete_upload(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    JsonOrEmpty(req): JsonOrEmpty<CompleteUploadRequest>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_write()?;
    let job = submit::from_upload(
        &state,
        &ctx,
        id,
        req.options,
        req.keep_source_hours,
        &req.parts,
    )
    .await?;
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

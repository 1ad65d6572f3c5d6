//! A job's rendered clips, with download URLs for those moderation lets
//! through.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::{
    clips::{ClipFormat, ClipRange},
    queries::{self, clips},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path},
    submit,
    views::Job,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_clips, rerender))
}

/// New clips of a finished job, from ranges a person chose.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerenderRequest {
    /// 1-20 ranges, each 1-600 s, inside the source.
    pub ranges: Vec<ClipRange>,
    /// Changes to the job's own clip options (`options.clips`), merged over
    /// them as a JSON merge patch: `{"formats": ["square"]}` changes the
    /// shapes and keeps the captions, loudness, framing and tightening the
    /// job had. `count` does not apply: the ranges say which clips to make.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object, example = json!({"formats": ["vertical", "square"], "captions": {"burn": false}}))]
    pub clips: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Whether a clip may be downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClipStatus {
    /// No unapproved moderation flag touches it.
    Ready,
    /// A flag on speech inside it, or on its highlight's title or hook, is
    /// open or rejected: no download URLs until a reviewer approves.
    Held,
}

/// A clip's stored file kinds, as the worker wrote them.
#[derive(Debug, Deserialize)]
struct StoredFile {
    kind: String,
    format: Option<ClipFormat>,
    name: String,
}

/// One file of a clip.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClipFile {
    /// `video` (one per format), `srt`, `vtt`, `thumbnail` (JPEG) or
    /// `preview` (the first seconds, small and muted, MP4).
    pub kind: String,
    /// For `video`: `original`, `vertical` or `square`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<ClipFormat>,
    /// The output's name among the job's artifacts (`clips/01/vertical.mp4`).
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// A presigned `GET` URL; absent while the clip is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<DateTime<Utc>>,
}

/// A rendered clip.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClipView {
    pub id: Uuid,
    /// 1, 2... in the order rendered (best highlight first).
    pub index: i32,
    /// The highlight it was cut from (`GET /v1/jobs/{id}/highlights`).
    pub highlight_rank: Option<i32>,
    /// The cut on the source's timeline, seconds.
    pub start: f64,
    pub end: f64,
    /// Seconds, as rendered: the cut less the pauses tightening took out
    /// of it (`details.tightened`).
    pub duration: f64,
    pub title: String,
    pub hook: String,
    /// 0-100.
    pub score: i32,
    pub status: ClipStatus,
    /// The moderation flags holding it back (for `POST /v1/review/{id}`).
    pub held_by: Vec<Uuid>,
    pub files: Vec<ClipFile>,
    /// Loudness (target, measured, gain), reframing, captions and
    /// tightening (the pauses cut out, on the source's timeline, and the
    /// seconds saved) as rendered; for a re-render captioned with corrected
    /// transcript text, `edit_flags`: the moderation flags on that text.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClipList {
    pub job_id: Uuid,
    pub items: Vec<ClipView>,
}

/// Render new clips of a finished job from its kept source: chosen ranges,
/// shapes and captions, with the transcript as corrected since (`PATCH
/// /v1/jobs/{id}/transcript/segments/{idx}`). The re-render is a job of its
/// own (`parent_id` is this job); its clips are listed at
/// `GET /v1/jobs/{render}/clips`, held by this job's moderation flags like
/// the job's own. Needs the job to have been submitted with
/// `keep_source_hours`.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/clips", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The job to render from")),
    request_body = RerenderRequest,
    responses(
        (status = 201, description = "The re-render, queued", body = Job),
        (status = 403, description = "`forbidden`: viewers cannot render", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such job", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`job_not_finished`: the job is queued or running; `source_not_kept`: the job was submitted without `keep_source_hours`, did not succeed, or is itself a re-render", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`source_expired`: the kept source's time ran out and it was deleted", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: ranges outside the source, bad clip options", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; or `quota_exceeded`: the tenant's monthly media minutes are used up (`Retry-After`: seconds until the quota resets)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn rerender(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<RerenderRequest>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    ctx.require_write()?;
    let parent = queries::jobs::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let job = submit::rerender(&state, &ctx, &parent, req.ranges, &req.clips).await?;
    tracing::info!(job.id = %job.id, parent.id = %id, "re-render queued");
    Ok((StatusCode::CREATED, Json(Job::load(&state, job).await?)))
}

/// A job's clips, each `ready` with presigned download URLs, or `held` by
/// moderation without them (approving the flags releases it).
#[utoipa::path(
    get, path = "/v1/jobs/{id}/clips", tag = "jobs", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The clips (empty until the job has published them)", body = ClipList),
        (status = 404, description = "`not_found`: no such job", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_clips(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<ClipList>, ApiError> {
    let job = queries::jobs::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rows = clips::with_holds(&state.db.orm, &job).await?;
    let artifacts = queries::artifacts::list(&state.db.orm, ctx.tenant_id, id).await?;
    let mut items = Vec::with_capacity(rows.len());
    for (clip, flags) in rows {
        let held = !flags.is_empty();
        // Written by the worker; an unreadable value (another version's)
        // shows as no files rather than failing the listing.
        let stored: Vec<StoredFile> = serde_json::from_value(clip.files).unwrap_or_default();
        let mut files = Vec::with_capacity(stored.len());
        for f in stored {
            let Some(a) = artifacts.iter().find(|a| a.name == f.name) else {
                continue;
            };
            let (url, url_expires_at) = if held {
                (None, None)
            } else {
                let get = state
                    .store
                    .presign_get(&a.object_key, state.config.download_url_ttl)
                    .await?;
                (Some(get.url), Some(get.expires_at))
            };
            files.push(ClipFile {
                kind: f.kind,
                format: f.format,
                name: f.name,
                content_type: a.content_type.clone(),
                size_bytes: a.size_bytes,
                sha256: a.sha256.clone(),
                url,
                url_expires_at,
            });
        }
        items.push(ClipView {
            id: clip.id,
            index: clip.idx,
            highlight_rank: clip.highlight_rank,
            start: clip.start,
            end: clip.end,
            duration: clip.duration,
            title: clip.title,
            hook: clip.hook,
            score: clip.score,
            status: if held {
                ClipStatus::Held
            } else {
                ClipStatus::Ready
            },
            held_by: flags.iter().map(|f| f.id).collect(),
            files,
            details: clip.details,
        });
    }
    Ok(Json(ClipList { job_id: id, items }))
}

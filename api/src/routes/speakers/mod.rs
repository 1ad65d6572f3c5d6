//! The speaker library: the tenant's people, the samples of their voice,
//! and who speaks in each job. Every change to the library is recorded
//! (`library::changed`, in the change's transaction), and the
//! housekeepers' relabel round then names the tenant's past jobs'
//! speakers again from the voiceprints the jobs kept
//! (`cutroom_core::voiceprints`), without their audio.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::queries::speakers as library;
use cutroom_entities::speaker;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

mod samples;

use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path, Query},
    validate,
};

/// Longest `metadata`, as JSON text.
const MAX_METADATA: usize = 16 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_speakers, create_speaker))
        .routes(routes!(get_speaker, update_speaker, delete_speaker))
        .routes(routes!(merge_speakers))
        .merge(samples::router())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSpeakerRequest {
    /// 1-200 characters.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Your own id for this person (1-200 characters), unique in the tenant.
    pub external_id: Option<String>,
    /// Any JSON object of yours (at most 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Whether the person agreed to their voice being kept and recognised.
    #[serde(default)]
    pub consent: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpeakerRequest {
    pub name: Option<String>,
    /// An empty string removes it.
    pub external_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub consent: Option<bool>,
}

/// A person in the library.
#[derive(Debug, Serialize, ToSchema)]
pub struct Speaker {
    pub id: Uuid,
    pub name: String,
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub consent: bool,
    /// Samples of their voice.
    pub samples: u64,
    /// Jobs they are named in.
    pub jobs: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpeakerList {
    pub items: Vec<Speaker>,
    /// True for the moments after a change to the library (a sample
    /// enrolled or removed, a speaker merged or deleted) while past jobs
    /// are named again in the background; their names in
    /// `/v1/jobs/{id}/speakers`, transcripts and search follow once it is
    /// false.
    pub relabelling: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpeakerQuery {
    /// Only speakers whose name contains this (case-insensitive).
    pub q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Speakers to skip (default 0).
    pub offset: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The speaker merged in and then deleted: their samples and jobs
    /// become this speaker's.
    pub from: Uuid,
}

fn view(row: speaker::Model, counts: (u64, u64)) -> Speaker {
    Speaker {
        id: row.id,
        name: row.name,
        external_id: row.external_id,
        metadata: row.metadata,
        consent: row.consent,
        samples: counts.0,
        jobs: counts.1,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn with_counts(
    state: &AppState,
    ctx: &AuthContext,
    row: speaker::Model,
) -> Result<Speaker, ApiError> {
    let counts = library::counts(&state.db.orm, ctx.tenant_id, &[row.id]).await?;
    let c = counts.get(&row.id).copied().unwrap_or_default();
    Ok(view(row, c))
}

pub(super) async fn find(
    state: &AppState,
    ctx: &AuthContext,
    id: Uuid,
) -> Result<speaker::Model, ApiError> {
    library::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("speaker"))
}

fn check_metadata(v: Option<serde_json::Value>) -> Result<Option<serde_json::Value>, ApiError> {
    match v {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            if v.to_string().len() > MAX_METADATA {
                return Err(ApiError::validation(
                    "metadata must be at most 16 KiB of JSON",
                ));
            }
            Ok(Some(v))
        }
        Some(_) => Err(ApiError::validation("metadata must be a JSON object")),
    }
}

async fn check_external_id(
    state: &AppState,
    ctx: &AuthContext,
    raw: &str,
    own: Option<Uuid>,
) -> Result<Option<String>, ApiError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let id = validate::text("external_id", raw, 200)?;
    if let Some(other) = library::by_external_id(&state.db.orm, ctx.tenant_id, &id).await?
        && Some(other.id) != own
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::ExternalIdTaken,
            format!("speaker {} already has external_id {id:?}", other.id),
        ));
    }
    Ok(Some(id))
}

/// Add a person to the speaker library. They are recognised in jobs once
/// they have a sample (`POST /v1/speakers/{id}/samples`).
#[utoipa::path(
    post, path = "/v1/speakers", tag = "speakers", security(("bearer" = [])),
    request_body = CreateSpeakerRequest,
    responses(
        (status = 201, description = "Created", body = Speaker),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`external_id_taken`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_speaker(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateSpeakerRequest>,
) -> Result<(StatusCode, Json<Speaker>), ApiError> {
    ctx.require_write()?;
    let name = validate::text("name", &req.name, 200)?;
    let metadata = check_metadata(req.metadata)?.unwrap_or_else(|| serde_json::json!({}));
    let external_id = match &req.external_id {
        Some(raw) => check_external_id(&state, &ctx, raw, None).await?,
        None => None,
    };
    let now = Utc::now();
    let row = library::insert(
        &state.db.orm,
        speaker::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            name,
            external_id,
            metadata,
            consent: req.consent,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    tracing::info!(speaker.id = %row.id, "speaker created");
    Ok((StatusCode::CREATED, Json(view(row, (0, 0)))))
}

/// The tenant's speakers by name.
#[utoipa::path(
    get, path = "/v1/speakers", tag = "speakers", security(("bearer" = [])),
    params(SpeakerQuery),
    responses(
        (status = 200, description = "The speakers", body = SpeakerList),
        (status = 422, description = "`validation_failed`: too long a query", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_speakers(
    state: AppState,
    ctx: AuthContext,
    Query(query): Query<SpeakerQuery>,
) -> Result<Json<SpeakerList>, ApiError> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::validation("q must have at most 200 characters"));
    }
    let limit = u64::from(query.limit.unwrap_or(50).clamp(1, 200));
    let offset = u64::from(query.offset.unwrap_or(0));
    let db = &state.db.orm;
    let rows = library::list(db, ctx.tenant_id, q, limit, offset).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts = library::counts(db, ctx.tenant_id, &ids).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let c = counts.get(&r.id).copied().unwrap_or_default();
            view(r, c)
        })
        .collect();
    let relabelling = library::relabelling(&state.db.orm, ctx.tenant_id).await?;
    Ok(Json(SpeakerList { items, relabelling }))
}

/// One speaker.
#[utoipa::path(
    get, path = "/v1/speakers/{id}", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Speaker id")),
    responses(
        (status = 200, description = "The speaker", body = Speaker),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_speaker(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Speaker>, ApiError> {
    let row = find(&state, &ctx, id).await?;
    Ok(Json(with_counts(&state, &ctx, row).await?))
}

/// Rename a speaker, or change their external id, metadata or consent.
/// Past jobs show the new name at once.
#[utoipa::path(
    patch, path = "/v1/speakers/{id}", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Speaker id")),
    request_body = UpdateSpeakerRequest,
    responses(
        (status = 200, description = "The changed speaker", body = Speaker),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`external_id_taken`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn update_speaker(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateSpeakerRequest>,
) -> Result<Json<Speaker>, ApiError> {
    ctx.require_write()?;
    let mut row = find(&state, &ctx, id).await?;
    if let Some(name) = &req.name {
        row.name = validate::text("name", name, 200)?;
    }
    if let Some(raw) = &req.external_id {
        row.external_id = check_external_id(&state, &ctx, raw, Some(id)).await?;
    }
    if let Some(metadata) = check_metadata(req.metadata)? {
        row.metadata = metadata;
    }
    if let Some(consent) = req.consent {
        row.consent = consent;
    }
    let row = library::update(&state.db.orm, row).await?;
    Ok(Json(with_counts(&state, &ctx, row).await?))
}

/// Delete a speaker and every sample of their voice. Jobs they were named
/// in are unknown at once, and matched again against the rest of the
/// library in the background (`relabelling` in `GET /v1/speakers`).
#[utoipa::path(
    delete, path = "/v1/speakers/{id}", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Speaker id")),
    responses(
        (status = 204, description = "Deleted, with their voiceprints"),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn delete_speaker(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.require_write()?;
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    if !library::delete(&tx, ctx.tenant_id, id).await? {
        return Err(ApiError::not_found("speaker"));
    }
    library::changed(&tx, ctx.tenant_id).await?;
    tx.commit().await?;
    tracing::info!(speaker.id = %id, "speaker deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Merge another speaker into this one (the same person enrolled twice):
/// their samples and jobs become this speaker's at once, and they are
/// deleted; other jobs are matched again in the background.
#[utoipa::path(
    post, path = "/v1/speakers/{id}/merge", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The speaker that stays")),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The speaker that stayed, with both's samples", body = Speaker),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: either speaker", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a speaker merged into itself", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn merge_speakers(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<MergeRequest>,
) -> Result<Json<Speaker>, ApiError> {
    ctx.require_write()?;
    if req.from == id {
        return Err(ApiError::validation(
            "a speaker cannot be merged into itself",
        ));
    }
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    let into = library::get(&tx, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("speaker"))?;
    library::get(&tx, ctx.tenant_id, req.from)
        .await?
        .ok_or_else(|| ApiError::not_found("speaker"))?;
    library::merge(&tx, ctx.tenant_id, into.id, req.from).await?;
    library::changed(&tx, ctx.tenant_id).await?;
    tx.commit().await?;
    tracing::info!(speaker.id = %id, merged = %req.from, "speakers merged");
    let row = find(&state, &ctx, id).await?;
    Ok(Json(with_counts(&state, &ctx, row).await?))
}

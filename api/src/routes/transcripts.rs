//! Transcripts: a job's, and search across the tenant's.

use cutroom_core::queries;
use cutroom_entities::{transcript, transcript_segment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path, Query},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_transcript))
        .routes(routes!(search))
}

/// What was said, segment by segment and word by word. The same content as
/// the job's `transcript.json` output.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    pub job_id: Uuid,
    /// `tiny.en` or `base`.
    pub model: String,
    /// ISO 639-1 code; null when nothing was said.
    pub language: Option<String>,
    /// How sure the model was of a detected language (0-1).
    pub language_probability: Option<f32>,
    /// Seconds of audio.
    pub duration: f64,
    pub segments: Vec<Segment>,
}

/// A stretch of speech. Times are seconds on the source's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    pub id: i32,
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// `S1`, `S2`... when speakers are known.
    pub speaker: Option<String>,
    /// Mean token probability, 0-1.
    pub confidence: f32,
    pub words: Vec<Word>,
}

/// One word; every word lies inside a speech interval of `silences.json`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// 0-1.
    pub probability: f32,
    pub speaker: Option<String>,
}

impl Transcript {
    fn from_rows(meta: transcript::Model, rows: Vec<transcript_segment::Model>) -> Self {
        Self {
            job_id: meta.job_id,
            model: meta.model,
            language: meta.language,
            language_probability: meta.language_probability,
            duration: meta.duration,
            segments: rows
                .into_iter()
                .map(|r| Segment {
                    id: r.idx,
                    start: r.start,
                    end: r.end,
                    words: serde_json::from_value(r.words).unwrap_or_default(),
                    text: r.text,
                    speaker: r.speaker,
                    confidence: r.confidence,
                })
                .collect(),
        }
    }
}

/// A job's transcript, once its transcription stage has run.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/transcript", tag = "transcripts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The transcript", body = Transcript),
        (status = 404, description = "`not_found`: no such job, or it has no transcript yet", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_transcript(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Transcript>, ApiError> {
    let (meta, rows) = queries::transcripts::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    Ok(Json(Transcript::from_rows(meta, rows)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words that must all appear in a segment (case-insensitive).
    pub q: String,
    /// At most this many hits, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
}

/// A segment that matched: where it is and what it says.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub job_id: Uuid,
    pub segment_id: i32,
    /// Seconds on the source's timeline.
    pub start: f64,
    pub end: f64,
    pub speaker: Option<String>,
    /// The segment's text.
    pub snippet: String,
}

/// Search the tenant's transcripts. Newest jobs first.
#[utoipa::path(
    get, path = "/v1/search", tag = "transcripts", security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching segments", body = SearchResults),
        (status = 422, description = "`validation_failed`: empty or too long query", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn search(
    state: AppState,
    ctx: AuthContext,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let q = query.q.trim();
    if q.is_empty() || q.len() > 200 {
        return Err(ApiError::validation("q must have 1 to 200 characters"));
    }
    let limit = u64::from(query.limit.unwrap_or(20).clamp(1, 100));
    let rows = queries::transcripts::search(&state.db.orm, ctx.tenant_id, q, limit).await?;
    Ok(Json(SearchResults {
        results: rows
            .into_iter()
            .map(|r| SearchHit {
                job_id: r.job_id,
                segment_id: r.idx,
                start: r.start,
                end: r.end,
                speaker: r.speaker,
                snippet: r.text,
            })
            .collect(),
    }))
}

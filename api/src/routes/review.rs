//! The review queue: what moderation flagged, and reviewers' decisions.

use axum::extract::RawQuery;
use chrono::{DateTime, Duration, Utc};
use cutroom_core::{
    moderation::{Action, Category},
    queries::review::{self, DayStats, Filter, Reviewer},
};
use cutroom_entities::{moderation_flag, review_decision};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{AuthContext, Principal},
    error::ApiError,
    extract::{Json, Path, Query},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_highlights))
        .routes(routes!(list_flags))
        .routes(routes!(get_flag, decide))
        .routes(routes!(moderation_stats))
}

/// Longest note a decision may carry, in characters.
const MAX_NOTE: usize = 2000;
/// Most days `GET /v1/stats/moderation` covers.
const MAX_DAYS: u32 = 366;

pub use cutroom_core::queries::review::{FlagKind, FlagStatus};

/// Text on which the job's moderation policy fired.
#[derive(Debug, Serialize, ToSchema)]
pub struct Flag {
    pub id: Uuid,
    pub job_id: Uuid,
    pub kind: FlagKind,
    /// The transcript segment's id, or the highlight's rank.
    pub segment: i32,
    /// Seconds on the source's timeline.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub speaker: Option<String>,
    /// The strongest action that fired: `flag` or `block`.
    pub action: Action,
    /// The categories whose rules fired.
    pub categories: Vec<Category>,
    /// Every scored category: `[{"category": "hate", "score": 0.12}]`.
    #[schema(value_type = Vec<Object>)]
    pub scores: serde_json::Value,
    /// The rules that fired: `[{"category", "score", "threshold", "action"}]`.
    #[schema(value_type = Vec<Object>)]
    pub fired: serde_json::Value,
    pub status: FlagStatus,
    pub created_at: DateTime<Utc>,
    /// When the latest decision was made.
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<moderation_flag::Model> for Flag {
    fn from(m: moderation_flag::Model) -> Self {
        let categories = m
            .categories
            .split(',')
            .filter(|c| !c.is_empty())
            .filter_map(|c| serde_json::from_value(serde_json::Value::from(c)).ok())
            .collect();
        Self {
            id: m.id,
            job_id: m.job_id,
            kind: m.kind,
            segment: m.segment,
            start: m.start,
            end: m.end,
            text: m.text,
            speaker: m.speaker,
            action: if m.action == "block" {
                Action::Block
            } else {
                Action::Flag
            },
            categories,
            scores: m.scores,
            fired: m.fired,
            status: m.status,
            created_at: m.created_at,
            decided_at: m.decided_at,
        }
    }
}

/// Which flags to list by their state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    #[default]
    Open,
    Approved,
    Rejected,
    All,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFlagsQuery {
    /// `open` (the default), `approved`, `rejected`, or `all`.
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// Only flags on which this category fired.
    pub category: Option<Category>,
    /// Severity: `block` or `flag`, the strongest action that fired.
    pub severity: Option<Action>,
    /// Only this job's flags.
    pub job_id: Option<Uuid>,
    /// Only flags on this batch's recordings.
    pub batch_id: Option<Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// Newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagPage {
    pub items: Vec<Flag>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// The tenant's review queue: open flags by default.
#[utoipa::path(
    get, path = "/v1/review", tag = "review", security(("bearer" = [])),
    params(
        ListFlagsQuery,
        ("metadata.{field}" = Option<String>, Query, description = "`metadata.<field>=<value>`, up to 8 of them: only flags on batch recordings whose metadata row has each field equal to the value, as for `GET /v1/jobs`."),
    ),
    responses(
        (status = 200, description = "A page of flags", body = FlagPage),
        (status = 400, description = "`invalid_query`: an unknown status, category or severity", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: severity `ignore` (ignored rules raise no flag), or limit out of range", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_flags(
    state: AppState,
    ctx: AuthContext,
    Query(q): Query<ListFlagsQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<FlagPage>, ApiError> {
    let metadata = super::jobs::metadata_filters(raw.as_deref().unwrap_or_default())?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 100"));
    }
    let status = match q.status.unwrap_or_default() {
        StatusFilter::All => None,
        StatusFilter::Open => Some(FlagStatus::Open),
        StatusFilter::Approved => Some(FlagStatus::Approved),
        StatusFilter::Rejected => Some(FlagStatus::Rejected),
    };
    if q.severity == Some(Action::Ignore) {
        return Err(ApiError::validation(
            "severity must be flag or block: ignored rules raise no flag",
        ));
    }
    let filter = Filter {
        status,
        category: q.category.map(|c| c.name().to_owned()),
        action: q.severity.map(|a| a.name().to_owned()),
        job_id: q.job_id,
        batch_id: q.batch_id,
        metadata,
        after: q.cursor,
    };
    let mut rows =
        review::list(&state.db.orm, ctx.tenant_id, &filter, u64::from(limit) + 1).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(FlagPage {
        items: rows.into_iter().map(Flag::from).collect(),
        next_cursor,
    }))
}

/// One reviewer's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct Decision {
    pub id: Uuid,
    /// `approve` or `reject`.
    pub decision: String,
    /// The person who decided, or null for an API key.
    pub reviewer_user_id: Option<Uuid>,
    /// The API key that decided, or null for a person.
    pub reviewer_api_key_id: Option<Uuid>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<review_decision::Model> for Decision {
    fn from(m: review_decision::Model) -> Self {
        Self {
            id: m.id,
            decision: m.decision,
            reviewer_user_id: m.reviewer_user_id,
            reviewer_api_key_id: m.reviewer_api_key_id,
            note: m.note,
            created_at: m.created_at,
        }
    }
}

/// A flag with its decisions, oldest first: the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagWithDecisions {
    #[serde(flatten)]
    pub flag: Flag,
    pub decisions: Vec<Decision>,
}

/// One flag and every decision made on it.
#[utoipa::path(
    get, path = "/v1/review/{id}", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Flag id")),
    responses(
        (status = 200, description = "The flag and its decisions", body = FlagWithDecisions),
        (status = 404, description = "`not_found`: no such flag", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_flag(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<FlagWithDecisions>, ApiError> {
    let flag = review::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("flag"))?;
    let decisions = review::decisions(&state.db.orm, ctx.tenant_id, id).await?;
    Ok(Json(FlagWithDecisions {
        flag: flag.into(),
        decisions: decisions.into_iter().map(Decision::from).collect(),
    }))
}

/// What a reviewer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The material may be published.
    Approve,
    /// The material stays held.
    Reject,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub decision: Verdict,
    /// Why, for the audit trail (at most 2000 characters).
    pub note: Option<String>,
}

/// Approve or reject a flag. Members and up; a flag can be decided again,
/// and every decision is kept.
#[utoipa::path(
    post, path = "/v1/review/{id}", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Flag id")),
    request_body = DecideRequest,
    responses(
        (status = 200, description = "The flag with its decisions, this one last", body = FlagWithDecisions),
        (status = 403, description = "`forbidden`: viewers cannot decide", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such flag", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown decision, or a note too long", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn decide(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<DecideRequest>,
) -> Result<Json<FlagWithDecisions>, ApiError> {
    ctx.require_write()?;
    let note = req
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::validation(format!(
            "note must be at most {MAX_NOTE} characters"
        )));
    }
    let reviewer = match ctx.principal {
        Principal::User { id } => Reviewer::User(id),
        Principal::ApiKey { id } => Reviewer::ApiKey(id),
    };
    let decision = match req.decision {
        Verdict::Approve => "approve",
        Verdict::Reject => "reject",
    };
    let (flag, _) = review::decide(&state.db.orm, ctx.tenant_id, id, decision, reviewer, note)
        .await?
        .ok_or_else(|| ApiError::not_found("flag"))?;
    tracing::info!(flag = %id, decision, "review decision recorded");
    let decisions = review::decisions(&state.db.orm, ctx.tenant_id, id).await?;
    Ok(Json(FlagWithDecisions {
        flag: flag.into(),
        decisions: decisions.into_iter().map(Decision::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Days back from today (UTC), 1 to 366 (default 30); today counts.
    #[param(minimum = 1, maximum = 366)]
    pub days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationStats {
    /// The first day covered, `YYYY-MM-DD` (UTC).
    #[schema(value_type = String)]
    pub since: chrono::NaiveDate,
    /// Days with flags or decisions, oldest first.
    pub days: Vec<DayStats>,
}

/// The tenant's moderation per day: flags raised (by category and
/// severity, and the seconds they cover), decisions made, flags still open.
#[utoipa::path(
    get, path = "/v1/stats/moderation", tag = "review", security(("bearer" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "Daily statistics", body = ModerationStats),
        (status = 422, description = "`validation_failed`: days out of range", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn moderation_stats(
    state: AppState,
    ctx: AuthContext,
    Query(q): Query<StatsQuery>,
) -> Result<Json<ModerationStats>, ApiError> {
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::validation(format!(
            "days must be between 1 and {MAX_DAYS}"
        )));
    }
    let since = Utc::now().date_naive() - Duration::days(i64::from(days) - 1);
    let start = since
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let days = review::daily_stats(&state.db.orm, ctx.tenant_id, start).await?;
    Ok(Json(ModerationStats { since, days }))
}

/// Whether a highlight may be published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HighlightStatus {
    /// No unapproved flag touches it.
    Ready,
    /// A flag on speech it overlaps, or on its title or hook, is open or
    /// rejected: held until a reviewer approves.
    Held,
}

/// A highlight candidate, best first, with its moderation state now.
#[derive(Debug, Serialize, ToSchema)]
pub struct HighlightView {
    /// 1 for the best.
    pub rank: i32,
    /// Seconds on the source's timeline; word boundaries of the transcript.
    pub start: f64,
    pub end: f64,
    pub title: String,
    /// The line it opens with.
    pub hook: String,
    /// 0-100.
    pub score: i32,
    /// What made up the score: `[{"signal", "points", "detail"}]`.
    #[schema(value_type = Vec<Object>)]
    pub reasons: serde_json::Value,
    pub status: HighlightStatus,
    /// The flags holding it back (ids, for `POST /v1/review/{id}`).
    pub held_by: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HighlightList {
    pub job_id: Uuid,
    pub items: Vec<HighlightView>,
}

/// A job's highlight candidates, best first, each `ready` or `held` by the
/// moderation flags it overlaps (approving them releases it).
#[utoipa::path(
    get, path = "/v1/jobs/{id}/highlights", tag = "review", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The highlights (empty until the analysis stage has run)", body = HighlightList),
        (status = 404, description = "`not_found`: no such job", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn job_highlights(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<HighlightList>, ApiError> {
    cutroom_core::queries::jobs::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rows = review::highlights_with_holds(&state.db.orm, ctx.tenant_id, id).await?;
    let items = rows
        .into_iter()
        .map(|(h, flags)| HighlightView {
            rank: h.rank,
            start: h.start,
            end: h.end,
            title: h.title,
            hook: h.hook,
            score: h.score,
            reasons: h.reasons,
            status: if flags.is_empty() {
                HighlightStatus::Ready
            } else {
                HighlightStatus::Held
            },
            held_by: flags.iter().map(|f| f.id).collect(),
        })
        .collect();
    Ok(Json(HighlightList { job_id: id, items }))
}

//! What the tenant has processed this month (or another), and its quota.
//! See `cutroom_core::usage` for what is counted and when.

use chrono::{DateTime, Utc};
use cutroom_core::{
    queries,
    speech::{AtBudget, RouteReport},
    usage::{Month, QUOTA_STAGE, minutes},
};
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
        .routes(routes!(get_usage))
        .routes(routes!(get_job_cost))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The month, `YYYY-MM` in UTC (default: this month).
    #[param(pattern = r"^\d{4}-\d{2}$", example = "2026-11")]
    pub month: Option<String>,
}

impl UsageQuery {
    /// The month asked for, or this one.
    pub fn month(&self) -> Result<Month, ApiError> {
        match self.month.as_deref() {
            Some(m) => m
                .parse()
                .map_err(|e| ApiError::validation(format!("month: {e}"))),
            None => Ok(Month::current()),
        }
    }
}

/// A month's usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// `YYYY-MM`, UTC.
    #[schema(example = "2026-11")]
    pub month: String,
    /// The month's first instant.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub until: DateTime<Utc>,
    /// Minutes of media the tenant's jobs brought in: each job's audio as
    /// decoded, counted once (re-renders too).
    /// The quota counts these.
    pub media_minutes: f64,
    /// Jobs counted in `media_minutes`.
    pub jobs: i64,
    /// The monthly quota that applies now; shown for the current month,
    /// `null` for other months or when there is no limit.
    pub quota: Option<Quota>,
    /// Minutes each stage processed, by model. A stage is counted once per
    /// job, however many attempts ran it; `clips` counts the minutes of
    /// clips rendered, the others the source's.
    pub stages: Vec<StageMinutes>,
    /// What the month's jobs cost, US dollars: cloud engines at their
    /// prices, LLM tokens at the tenant's, and the workers' time at the
    /// operator's (`CUTROOM_WORKER_COST_PER_HOUR`).
    #[schema(example = 0.0421)]
    pub cost_usd: f64,
    /// The tenant's monthly budget and what is left of it; shown for the
    /// current month, `null` for other months or when there is none.
    pub budget: Option<BudgetUse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetUse {
    pub monthly_usd: f64,
    /// Never below 0.
    pub remaining_usd: f64,
    /// What happens once it is spent.
    pub at_limit: AtBudget,
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Quota {
    /// Media minutes allowed in a month.
    pub media_minutes: i64,
    /// What is left of them this month (never below 0).
    pub remaining_minutes: f64,
    /// When the count starts again.
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageMinutes {
    /// `probe`, `audio`, `loudness`, `silence`, `transcribe`, `speakers`,
    /// `analyze`, `moderate` or `clips`.
    pub stage: String,
    /// The model the stage ran: `whisper:tiny.en`, `openai:smollm2`, a model
    /// file such as `silero_vad.onnx`; `null` for stages without one.
    pub model: Option<String>,
    pub minutes: f64,
    pub jobs: i64,
    /// US dollars.
    pub cost_usd: f64,
}

/// The tenant's usage in a month: media minutes by stage and model, and
/// the monthly quota with what is left of it.
#[utoipa::path(
    get, path = "/v1/usage", tag = "usage", security(("bearer" = [])),
    params(UsageQuery),
    responses(
        (status = 200, description = "The month's usage", body = Usage),
        (status = 422, description = "`validation_failed`: `month` is not `YYYY-MM`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_usage(
    state: AppState,
    ctx: AuthContext,
    Query(q): Query<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let month = q.month()?;
    let db = &state.db.orm;
    let rows = queries::usage::by_stage(db, ctx.tenant_id, month).await?;
    let (media_seconds, jobs) = rows
        .iter()
        .filter(|r| r.stage == QUOTA_STAGE)
        .fold((0.0, 0), |(s, n), r| (s + r.seconds, n + r.jobs));
    let quota = if month == Month::current() {
        queries::usage::quota(db, ctx.tenant_id, state.config.monthly_media_minutes)
            .await?
            .map(|q| Quota {
                media_minutes: q,
                remaining_minutes: (q as f64 - minutes(media_seconds)).max(0.0),
                resets_at: month.end(),
            })
    } else {
        None
    };
    let cost_usd: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let budget = if month == Month::current() {
        queries::tenants::settings(db, ctx.tenant_id)
            .await?
            .and_then(|s| {
                let limit = s.budget.monthly_usd?;
                Some(BudgetUse {
                    monthly_usd: limit,
                    remaining_usd: (limit - cost_usd).max(0.0),
                    at_limit: s.budget.at_limit,
                    resets_at: month.end(),
                })
            })
    } else {
        None
    };
    Ok(Json(Usage {
        month: month.to_string(),
        from: month.start(),
        until: month.end(),
        media_minutes: minutes(media_seconds),
        jobs,
        quota,
        stages: rows
            .into_iter()
            .map(|r| StageMinutes {
                stage: r.stage,
                model: r.model,
                minutes: minutes(r.seconds),
                jobs: r.jobs,
                cost_usd: r.cost_usd,
            })
            .collect(),
        cost_usd,
        budget,
    }))
}

/// What one job cost, stage by stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobCost {
    pub job_id: Uuid,
    /// US dollars, every stage together.
    #[schema(example = 0.0042)]
    pub cost_usd: f64,
    /// In a sentence, for people: `this job cost $0.0042 (local tiny.en,
    /// 31 s of CPU)`.
    #[schema(example = "this job cost $0.0042 (local tiny.en, 31 s of CPU)")]
    pub summary: String,
    pub stages: Vec<StageCost>,
    /// How the transcription engine was chosen, and every engine tried;
    /// `null` before transcription ran (or for jobs without one).
    pub transcription: Option<RouteReport>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageCost {
    pub stage: String,
    pub model: Option<String>,
    /// Seconds of media it processed.
    pub media_seconds: f64,
    /// US dollars; `null` for records made before costs were kept.
    pub cost_usd: Option<f64>,
}

/// What a job cost so far: each stage's record (a stage is recorded once,
/// when it ends) and the transcription router's report.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/cost", tag = "usage", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job's cost", body = JobCost),
        (status = 404, description = "`not_found`: no such job", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_job_cost(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<JobCost>, ApiError> {
    let db = &state.db.orm;
    queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rows = queries::usage::of_job(db, ctx.tenant_id, id).await?;
    let transcription = rows
        .iter()
        .filter(|r| r.stage == cutroom_core::Stage::Transcribe.name())
        .find_map(|r| r.detail.clone())
        .and_then(|d| serde_json::from_value::<RouteReport>(d).ok());
    let cost_usd: f64 = rows.iter().filter_map(|r| r.cost_usd).sum();
    let summary = cutroom_core::speech::summary(cost_usd, transcription.as_ref());
    Ok(Json(JobCost {
        job_id: id,
        cost_usd,
        summary,
        stages: rows
            .into_iter()
            .map(|r| StageCost {
                stage: r.stage,
                model: r.model,
                media_seconds: r.media_seconds,
                cost_usd: r.cost_usd,
            })
            .collect(),
        transcription,
    }))
}

//! Operators' view of the whole installation, across tenants: the worker
//! fleet and its load (`fleet`), every tenant's usage, and per-tenant
//! quotas. Reached with the operator token (`CUTROOM_OPERATOR_TOKEN`), not
//! with a tenant's credentials; without a configured token the routes do
//! not exist (404).

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::{DateTime, Utc};
use cutroom_core::{
    queries::{usage, workers},
    usage::{MAX_QUOTA_MINUTES, minutes},
};
use cutroom_entities::worker;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::usage::UsageQuery;
use crate::ProblemCode;
use crate::{
    app::AppState,
    error::ApiError,
    extract::{Json, Path, Query},
};

/// Workers listed at most (the registry forgets those silent for a day).
const MAX_WORKERS: u64 = 500;
/// Tenants listed at most in the usage list.
const MAX_TENANTS: u64 = 10_000;

mod fleet;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workers))
        .routes(routes!(fleet::show_fleet))
        .routes(routes!(list_usage))
        .routes(routes!(set_quota))
}

/// The request carries the operator token.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.operator_token else {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                ProblemCode::NotFound,
                "operator routes are off: set CUTROOM_OPERATOR_TOKEN",
            ));
        };
        if bears(&parts.headers, expected) {
            Ok(Operator)
        } else {
            Err(ApiError::unauthorized(
                "the operator token is missing or wrong",
            ))
        }
    }
}

/// Whether the request's bearer token is `expected` (compared in
/// constant time).
pub(super) fn bears(headers: &axum::http::HeaderMap, expected: &secrecy::SecretString) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes()))
}

/// What a worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Running a job.
    Busy,
    /// Waiting for one.
    Idle,
    /// Signed off cleanly.
    Stopped,
    /// Silent for three heartbeats: killed, frozen or cut off. Its job,
    /// if any, goes to another worker.
    Lost,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentJob {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub since: Option<DateTime<Utc>>,
    /// The stage it is in (`fetch`, `transcribe`, …).
    pub stage: Option<String>,
}

/// One worker process.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Its queue name, `cutroom-worker-{random}`: the id job events show
    /// tenants, who learn neither host nor pid from it.
    pub id: String,
    pub host: String,
    pub pid: i32,
    /// Cutroom's version it runs.
    pub version: String,
    pub state: WorkerState,
    pub current_job: Option<CurrentJob>,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub jobs_succeeded: i64,
    /// Attempts it ended failed or cancelled (retried ones included).
    pub jobs_failed: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    pub workers: Vec<WorkerView>,
    /// Workers by state.
    pub busy: usize,
    pub idle: usize,
    pub lost: usize,
}

/// The worker fleet: every worker seen in the last day, newest first,
/// with its state, current job and counts.
#[utoipa::path(
    get, path = "/v1/admin/workers", tag = "admin", security(("operator" = [])),
    responses(
        (status = 200, body = WorkerList),
        (status = 401, description = "`unauthorized`: not the operator token", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no operator token is configured", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_workers(_: Operator, state: AppState) -> Result<Json<WorkerList>, ApiError> {
    Ok(Json(worker_list(&state, Utc::now()).await?))
}

/// The registry as of `now`, with each busy worker's stage.
async fn worker_list(state: &AppState, now: DateTime<Utc>) -> Result<WorkerList, ApiError> {
    let rows = workers::list(
        &state.db.orm,
        now - chrono::Duration::hours(24),
        MAX_WORKERS,
    )
    .await?;
    let heartbeat = state.config.worker_heartbeat;
    let mut workers: Vec<WorkerView> = rows.into_iter().map(|w| view(w, now, heartbeat)).collect();
    let current: Vec<Uuid> = workers
        .iter()
        .filter_map(|w| w.current_job.as_ref().map(|j| j.id))
        .collect();
    // A lost worker and the one that took its job over both name it.
    let stages: std::collections::HashMap<Uuid, Option<String>> =
        cutroom_core::queries::fleet::stages_of(&state.db.orm, current)
            .await?
            .into_iter()
            .collect();
    for job in workers.iter_mut().filter_map(|w| w.current_job.as_mut()) {
        job.stage = stages.get(&job.id).cloned().flatten();
    }
    let count = |s: WorkerState| workers.iter().filter(|w| w.state == s).count();
    Ok(WorkerList {
        busy: count(WorkerState::Busy),
        idle: count(WorkerState::Idle),
        lost: count(WorkerState::Lost),
        workers,
    })
}

fn view(w: worker::Model, now: DateTime<Utc>, heartbeat: std::time::Duration) -> WorkerView {
    let state = match workers::state(&w, now, heartbeat) {
        workers::State::Busy => WorkerState::Busy,
        workers::State::Idle => WorkerState::Idle,
        workers::State::Stopped => WorkerState::Stopped,
        workers::State::Lost => WorkerState::Lost,
    };
    WorkerView {
        current_job: w
            .current_job_id
            .zip(w.current_tenant_id)
            .map(|(id, tenant_id)| CurrentJob {
                id,
                tenant_id,
                since: w.current_since,
                stage: None,
            }),
        id: w.id,
        host: w.host,
        pid: w.pid,
        version: w.version,
        state,
        started_at: w.started_at,
        last_heartbeat_at: w.last_seen_at,
        stopped_at: w.stopped_at,
        jobs_succeeded: w.jobs_succeeded,
        jobs_failed: w.jobs_failed,
    }
}

/// One tenant's media minutes in a month, with its quota.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantUsage {
    pub tenant_id: Uuid,
    pub name: String,
    pub media_minutes: f64,
    /// The quota that applies to it now; `null`: no limit.
    pub quota_media_minutes: Option<i64>,
    /// Whether that quota is the tenant's own (set here) rather than the
    /// server's default.
    pub own_quota: bool,
    /// What the tenant's jobs cost in the month, US dollars (cloud
    /// engines, LLM tokens and the workers' time; see `GET /v1/usage`).
    pub cost_usd: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageList {
    #[schema(example = "2026-11")]
    pub month: String,
    /// Every tenant, oldest first, used or not.
    pub tenants: Vec<TenantUsage>,
    /// `CUTROOM_MONTHLY_MEDIA_MINUTES`; `null`: no limit by default.
    pub default_quota_media_minutes: Option<i64>,
}

/// Every tenant's media minutes and cost in a month, and the quota that
/// applies to it.
#[utoipa::path(
    get, path = "/v1/admin/usage", tag = "admin", security(("operator" = [])),
    params(UsageQuery),
    responses(
        (status = 200, body = UsageList),
        (status = 401, description = "`unauthorized`: not the operator token", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no operator token is configured", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `month` is not `YYYY-MM`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_usage(
    _: Operator,
    state: AppState,
    Query(q): Query<UsageQuery>,
) -> Result<Json<UsageList>, ApiError> {
    let month = q.month()?;
    let db = &state.db.orm;
    let used: std::collections::HashMap<Uuid, f64> = usage::quota_seconds_by_tenant(db, month)
        .await?
        .into_iter()
        .collect();
    let spent: std::collections::HashMap<Uuid, f64> = usage::spent_by_tenant(db, month)
        .await?
        .into_iter()
        .collect();
    let default = state.config.monthly_media_minutes;
    let tenants = usage::tenants(db, MAX_TENANTS)
        .await?
        .into_iter()
        .map(|(tenant_id, name, own)| TenantUsage {
            media_minutes: minutes(used.get(&tenant_id).copied().unwrap_or_default()),
            quota_media_minutes: own.or(default),
            own_quota: own.is_some(),
            cost_usd: spent.get(&tenant_id).copied().unwrap_or_default(),
            tenant_id,
            name,
        })
        .collect();
    Ok(Json(UsageList {
        month: month.to_string(),
        tenants,
        default_quota_media_minutes: default,
    }))
}

/// A tenant's own monthly quota.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct QuotaRequest {
    /// Media minutes a month; `null` clears the tenant's own quota, so the
    /// server's default (`CUTROOM_MONTHLY_MEDIA_MINUTES`) applies again.
    #[schema(minimum = 0, maximum = 60_000_000)]
    pub media_minutes: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantQuota {
    pub tenant_id: Uuid,
    /// The tenant's own quota, as set.
    pub own_quota_media_minutes: Option<i64>,
    /// The quota that applies: its own, else the server's default; `null`:
    /// no limit.
    pub quota_media_minutes: Option<i64>,
}

/// Set or clear a tenant's monthly quota of media minutes. It applies at
/// once: new submissions are refused once the month's minutes are used
/// up, and a job whose source does not fit in what is left fails when it
/// is probed or decoded.
#[utoipa::path(
    put, path = "/v1/admin/tenants/{id}/quota", tag = "admin", security(("operator" = [])),
    params(("id" = Uuid, Path, description = "Tenant id")),
    request_body = QuotaRequest,
    responses(
        (status = 200, body = TenantQuota),
        (status = 401, description = "`unauthorized`: not the operator token", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such tenant, or no operator token is configured", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not 0 to 60,000,000", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn set_quota(
    _: Operator,
    state: AppState,
    Path(id): Path<Uuid>,
    Json(req): Json<QuotaRequest>,
) -> Result<Json<TenantQuota>, ApiError> {
    if let Some(m) = req.media_minutes
        && !(0..=MAX_QUOTA_MINUTES).contains(&m)
    {
        return Err(ApiError::validation(format!(
            "media_minutes must be between 0 and {MAX_QUOTA_MINUTES}, or null"
        )));
    }
    if !usage::set_tenant_quota(&state.db.orm, id, req.media_minutes).await? {
        return Err(ApiError::not_found("tenant"));
    }
    tracing::info!(tenant.id = %id, quota = ?req.media_minutes, "tenant quota set");
    Ok(Json(TenantQuota {
        tenant_id: id,
        own_quota_media_minutes: req.media_minutes,
        quota_media_minutes: req.media_minutes.or(state.config.monthly_media_minutes),
    }))
}

//! Operators' view of the whole installation, across tenants: the worker
//! fleet. Reached with the operator token (`CUTROOM_OPERATOR_TOKEN`), not
//! with a tenant's credentials; without a configured token the routes do
//! not exist (404).

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::{DateTime, Utc};
use cutroom_core::queries::workers;
use cutroom_entities::worker;
use secrecy::ExposeSecret;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{app::AppState, error::ApiError, extract::Json};

/// Workers listed at most (the registry forgets those silent for a day).
const MAX_WORKERS: u64 = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_workers))
}

/// The request carries the operator token.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.operator_token else {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
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
}

/// One worker process.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    /// Its queue name, `cutroom-worker-{host}-{pid}-{random}`.
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
    let now = Utc::now();
    let rows = workers::list(
        &state.db.orm,
        now - chrono::Duration::hours(24),
        MAX_WORKERS,
    )
    .await?;
    let heartbeat = state.config.worker_heartbeat;
    let workers: Vec<WorkerView> = rows.into_iter().map(|w| view(w, now, heartbeat)).collect();
    let count = |s: WorkerState| workers.iter().filter(|w| w.state == s).count();
    Ok(Json(WorkerList {
        busy: count(WorkerState::Busy),
        idle: count(WorkerState::Idle),
        lost: count(WorkerState::Lost),
        workers,
    }))
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

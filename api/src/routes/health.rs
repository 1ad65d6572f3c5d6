//! Liveness and readiness for load balancers and `docker compose`,
//! Prometheus metrics, and the home page.

use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ProblemCode;
use crate::{app::AppState, client::Local, error::ApiError, extract::Json};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(home))
}

/// How long a readiness check waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`; for `/readyz` also `unavailable` when a dependency does not answer.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every dependency answers, else `unavailable`.
    pub status: String,
    /// `ok` or `unavailable`.
    pub database: String,
    /// `ok` or `unavailable`.
    pub storage: String,
}

/// Liveness: the process serves requests. It checks no dependency, so a
/// database outage does not get every replica restarted at once.
#[utoipa::path(
    get, path = "/healthz", tag = "meta", security(()),
    responses((status = 200, description = "Alive", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database and object storage answer, so requests can be
/// served. Load balancers and `docker compose` send traffic only then.
#[utoipa::path(
    get, path = "/readyz", tag = "meta", security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = Readiness),
    )
)]
async fn readyz(state: AppState) -> (StatusCode, Json<Readiness>) {
    let (db, storage) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.db.ping()),
        // Any answer about a key, even "absent", means the store works.
        tokio::time::timeout(CHECK_TIMEOUT, state.store.head("readyz")),
    );
    let db = matches!(db, Ok(true));
    let storage = matches!(storage, Ok(Ok(_)));
    let word = |ok: bool| if ok { "ok" } else { "unavailable" }.to_owned();
    let status = if db && storage {
        StatusCode::OK
    } else {
        tracing::warn!(database = db, storage, "not ready");
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: word(db && storage),
            database: word(db),
            storage: word(storage),
        }),
    )
}

/// Prometheus metrics (text format): request latency by route, jobs by
/// status, queue depth, workers by state, stage durations, all tenants
/// together. With `CUTROOM_OPERATOR_TOKEN` set, it needs that token as a
/// bearer token; without, it answers only clients on this machine
/// (loopback, not through a proxy).
#[utoipa::path(
    get, path = "/metrics", tag = "meta", security((), ("operator" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`unauthorized`: an operator token is configured and this is not it", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`metrics_local_only`: no operator token is configured and the client is not on this machine", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn metrics(
    state: AppState,
    Local(local): Local,
    headers: axum::http::HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    match &state.config.operator_token {
        Some(expected) if !super::admin::bears(&headers, expected) => {
            return Err(ApiError::unauthorized(
                "the metrics need the operator token",
            ));
        }
        None if !local => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::MetricsLocalOnly,
                "without CUTROOM_OPERATOR_TOKEN the metrics answer only clients on the server's own machine",
            ));
        }
        _ => {}
    }
    let body = state.metrics.render(&state).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    ))
}

/// The web app (`frontend/`); where it is not built, a short page about
/// the API with links to the interactive docs.
#[utoipa::path(
    get, path = "/", tag = "meta", security(()),
    responses((status = 200, description = "HTML", content_type = "text/html", body = String))
)]
async fn home(state: AppState) -> axum::response::Response {
    crate::web::index(state.config.web_dir.as_deref()).await
}

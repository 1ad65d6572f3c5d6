//! Readiness for load balancers and `docker compose`, and the home page.

use axum::{http::StatusCode, response::Html};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{app::AppState, extract::Json};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(home))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: String,
}

/// Ready when the database answers.
#[utoipa::path(
    get, path = "/healthz", tag = "meta", security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    )
)]
async fn healthz(state: AppState) -> (StatusCode, Json<Health>) {
    if state.db.ping().await {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
            }),
        )
    }
}

/// A short page about the API, linking to the interactive docs.
#[utoipa::path(
    get, path = "/", tag = "meta", security(()),
    responses((status = 200, description = "HTML", content_type = "text/html", body = String))
)]
async fn home() -> Html<&'static str> {
    Html(include_str!("../../../frontend/index.html"))
}

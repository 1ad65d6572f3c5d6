//! The HTTP surface: every route is declared once, through utoipa-axum's
//! `OpenApiRouter` and `routes!()`, so the router and the OpenAPI document
//! are built from the same declarations and cannot drift.

mod admin;
mod api_keys;
mod auth;
mod batches;
mod clips;
mod health;
mod invitations;
mod jobs;
mod logo;
mod me;
mod members;
mod review;
mod speakers;
mod storage;
mod tenant;
mod transcripts;
mod uploads;
mod usage;
mod webhooks;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{Request, StatusCode},
    response::IntoResponse,
};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::ProblemCode;
use crate::{
    app::{App, AppState},
    error::ApiError,
    idempotency,
};

/// JSON bodies are small; uploads go to object storage, not through here.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cutroom API",
        description = "Multi-tenant video processing. Sign up or log in under `/v1/auth`, then send \
            `Authorization: Bearer <access token or API key>`. Upload a file through a presigned URL \
            (`POST /v1/uploads`, `PUT` the bytes, `POST /v1/uploads/{id}/complete`) or submit a YouTube \
            link (`POST /v1/jobs`), then poll `GET /v1/jobs/{id}` for the outputs. Errors are RFC 9457 \
            `application/problem+json` with a stable `code`. Each user and each API key may make \
            `CUTROOM_RATE_LIMIT_PER_MINUTE` requests a minute (600 by default); beyond that, any \
            authenticated request answers 429 `rate_limited` with `Retry-After`."
    ),
    // Routed by hand (wildcard keys); see `storage::router`.
    paths(storage::put_object, storage::get_object),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, sessions and invitations"),
        (name = "members", description = "Who belongs to the tenant, with which role"),
        (name = "tenant", description = "The tenant's own settings: defaults for its jobs"),
        (name = "api-keys", description = "Credentials for programs"),
        (name = "uploads", description = "Presigned uploads"),
        (name = "jobs", description = "Processing jobs and their outputs"),
        (name = "batches", description = "Archives of recordings with metadata: each file a job"),
        (name = "transcripts", description = "What was said, and search across it"),
        (name = "speakers", description = "The speaker library: people, samples of their voice, and who speaks in each job"),
        (name = "review", description = "What moderation flagged, reviewers' decisions, daily statistics"),
        (name = "webhooks", description = "Signed event messages to the tenant's own endpoints, with a delivery log"),
        (name = "usage", description = "Media minutes processed, by stage and model, and the monthly quota"),
        (name = "storage", description = "Presigned URLs of the embedded local storage"),
        (name = "admin", description = "The operator's view across tenants (the operator token, `CUTROOM_OPERATOR_TOKEN`)"),
        (name = "meta", description = "Health and documentation"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token or crk_ API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("the operator token, CUTROOM_OPERATOR_TOKEN")
                    .build(),
            ),
        );
    }
}

/// All routes with their documentation, before state and middleware.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(me::router())
        .merge(members::router())
        .merge(invitations::router())
        .merge(tenant::router())
        .merge(logo::router())
        .merge(api_keys::router())
        .merge(uploads::router())
        .merge(jobs::router())
        .merge(batches::router())
        .merge(transcripts::router())
        .merge(speakers::router())
        .merge(review::router())
        .merge(clips::router())
        .merge(webhooks::router())
        .merge(usage::router())
        .merge(storage::router())
        .merge(admin::router())
}

/// The OpenAPI 3.1 document, as served at `/openapi.json` and committed in
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut spec = api_router().into_openapi();
    document_common_answers(&mut spec);
    spec
}

/// The answers any operation may give before its handler runs, added to
/// every operation they apply to (the routes document their own):
/// `400` for a malformed body, query or path; `413`/`415`/`422` for a body
/// that is too large, not JSON, or not the JSON the operation takes; `401` for a missing or bad credential; `429`
/// for a credential over its rate limit.
fn document_common_answers(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        Ref, RefOr,
        content::Content,
        path::{Operation, ParameterIn},
        response::Response,
    };
    let problem = |description: &str| -> RefOr<Response> {
        let mut r = Response::new(description);
        r.content.insert(
            "application/problem+json".into(),
            RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
        );
        RefOr::T(r)
    };
    let add = |op: &mut Operation, code: &str, description: &str| {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| problem(description));
    };
    for (path, item) in spec.paths.paths.iter_mut() {
        if crate::auth::guard::PATHS.contains(&path.as_str())
            && let Some(op) = item.post.as_mut()
        {
            add(
                op,
                "429",
                "`rate_limited`: too many sign-in requests from this address (`CUTROOM_AUTH_LIMIT_PER_MINUTE`); see `Retry-After`",
            );
            if path != "/v1/auth/refresh" {
                add(
                    op,
                    "503",
                    "`server_busy`: too many passwords are being checked at once; see `Retry-After`",
                );
            }
        }
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let json_body = op
                .request_body
                .as_ref()
                .and_then(|b| match b {
                    RefOr::T(b) => Some(b.content.contains_key("application/json")),
                    RefOr::Ref(_) => None,
                })
                .unwrap_or(false);
            let has_params = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter().any(|p| {
                    matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
                })
            });
            let schemes: Vec<String> = op
                .security
                .iter()
                .flatten()
                .filter_map(|r| serde_json::to_value(r).ok())
                .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                .flatten()
                .collect();
            let open = op.security.as_ref().is_some_and(|rs| {
                rs.iter().any(|r| {
                    serde_json::to_value(r)
                        .is_ok_and(|v| v.as_object().is_some_and(serde_json::Map::is_empty))
                })
            });
            if json_body {
                add(
                    op,
                    "400",
                    "`malformed_json`, `bad_request`: the body is not valid JSON",
                );
                add(op, "413", "`body_too_large`: the body is over 1 MiB");
                add(
                    op,
                    "415",
                    "`unsupported_media_type`: the body is not sent as `application/json`",
                );
                add(
                    op,
                    "422",
                    "`validation_failed`: the body is JSON, but a field is missing, unknown or invalid",
                );
            }
            if has_params {
                add(
                    op,
                    "400",
                    "`invalid_query`, `bad_request`: a path or query parameter is malformed",
                );
            }
            if !open && schemes.iter().any(|s| s == "bearer") {
                add(
                    op,
                    "401",
                    "`unauthorized`: the bearer token is missing, malformed, expired or revoked",
                );
                add(
                    op,
                    "429",
                    "`rate_limited`: this credential is over `CUTROOM_RATE_LIMIT_PER_MINUTE`; see `Retry-After`",
                );
            }
            if !open && schemes.iter().any(|s| s == "operator") {
                add(op, "401", "`unauthorized`: not the operator token");
            }
        }
    }
}

/// The whole HTTP application.
pub fn router(app: Arc<App>) -> Router {
    let (routes, mut spec) = api_router().split_for_parts();
    document_common_answers(&mut spec);
    let mut routes = routes.merge(SwaggerUi::new("/docs").url("/openapi.json", spec));
    if let Some(assets) = crate::web::assets(app.config.web_dir.as_deref()) {
        routes = routes.nest_service("/assets", assets);
    }
    let app_routes = routes
        .fallback(fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ProblemCode::MethodNotAllowed,
                "this endpoint does not accept that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            AppState(app.clone()),
            idempotency::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            AppState(app.clone()),
            crate::auth::guard::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            AppState(app.clone()),
            crate::metrics::layer,
        ))
        .with_state(AppState(app));
    app_routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO))
                    // 5xx are logged once, with their cause, by `ApiError`.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT)),
    )
}

/// No route matched: the web app's pages and root files, else the API's 404.
async fn fallback(
    state: AppState,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let web_dir = state.config.web_dir.as_deref();
    if let Some(page) = crate::web::fallback(web_dir, &method, uri.path(), &headers).await {
        return page;
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::NotFound,
        "no such endpoint",
    )
    .into_response()
}

/// The path only: query strings carry presigned signatures, and headers
/// carry tokens, so neither is logged.
fn request_span(req: &Request<Body>) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "http",
        method = %req.method(),
        path = %req.uri().path(),
        request_id,
        tenant.id = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    /// The committed spec is what clients and reviewers read; it must match the code.
    #[test]
    fn committed_openapi_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let mut current = super::openapi().to_pretty_json().unwrap();
        current.push('\n');
        assert!(
            committed == current,
            "openapi/openapi.json is stale; regenerate it with\n\n    cargo run -p cutroom -- openapi > openapi/openapi.json\n"
        );
    }
}

//! `Idempotency-Key` on `POST /v1/jobs`, `/v1/uploads` and `/v1/batches`, so a
//! client that lost a response can retry without creating the job twice.
//!
//! The first request with a key runs and its response is stored (unless it
//! is a 5xx or a 429, which a retry may turn out differently); a retry with
//! the same key and the same method, path and body gets that response
//! again, marked `Idempotent-Replayed: true`, for 24 hours. The same key
//! with another body is a 422, and a retry while the first is still
//! running a 409.
//!
//! Keys are per credential (each user, each API key): a stored answer may
//! hold an upload URL, so nobody else gets it by sending the same key, and
//! two clients that pick the same key do not collide. The caller's role is
//! checked before anything is replayed, so a member demoted to viewer
//! cannot fetch even their own earlier answer.

use axum::{
    body::{Body, to_bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use cutroom_core::queries::idempotency::{self, Begin};
use sha2::{Digest, Sha256};

use crate::ProblemCode;
use crate::{app::AppState, auth::AuthContext, error::ApiError};

/// The requests that honour the header.
const PATHS: [&str; 3] = ["/v1/jobs", "/v1/uploads", "/v1/batches"];
pub const HEADER: &str = "idempotency-key";
/// Largest body read (the JSON body limit).
const BODY_LIMIT: usize = 1024 * 1024;

/// The middleware; every other request passes straight through.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    match run(&state, key, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: &AppState,
    key: String,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    // Keys are per tenant, so the caller must be known first; a request
    // that is not authenticated gets the handler's own 401.
    // The extractor leaves the context in the request, so the handler
    // neither authenticates nor counts the request again.
    let ctx = AuthContext::from_request_parts(&mut parts, state).await?;
    // Both routes create work, which only writers may.
    ctx.require_write()?;
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::PayloadTooLarge,
            "the request body is too large",
        )
    })?;
    let mut hash = Sha256::new();
    hash.update(parts.method.as_str());
    hash.update(b" ");
    hash.update(parts.uri.path());
    hash.update(b"\n");
    hash.update(&bytes);
    let hash = hex::encode(hash.finalize());

    let db = &state.db.orm;
    let owner = ctx.actor();
    match idempotency::begin(db, ctx.tenant_id, &owner, &key, &hash, Utc::now()).await? {
        Begin::Fresh(id) => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (mut parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX)
                .await
                .map_err(|e| ApiError::internal(format!("reading a response to store it: {e}")))?;
            let status = parts.status;
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                idempotency::abandon(db, id).await?;
            } else {
                let content_type = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let text = String::from_utf8_lossy(&body);
                idempotency::complete(db, id, status.as_u16(), &text, content_type).await?;
            }
            parts
                .headers
                .insert("idempotent-replayed", HeaderValue::from_static("false"));
            Ok(Response::from_parts(parts, Body::from(body)))
        }
        Begin::Replay {
            status,
            body,
            content_type,
        } => {
            tracing::info!(idempotency_key = %key, "replaying a stored response");
            let mut response =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            let headers = response.headers_mut();
            if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                headers.insert(header::CONTENT_TYPE, ct);
            }
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Begin::InProgress => Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::IdempotencyInProgress,
            "a request with this Idempotency-Key is still being answered; retry shortly",
        )),
        Begin::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request; use a new key",
        )),
    }
}

//! The one error type of the API, rendered as RFC 9457 `application/problem+json`.
//!
//! Clients switch on `code`, never on `detail` or `title`: the codes are a
//! public contract and are only ever added, never renamed.

use std::borrow::Cow;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cutroom_core::storage::StorageError;
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;
use utoipa::{PartialSchema, ToSchema, openapi::RefOr, openapi::schema::Schema};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error answer. Build it with the constructors below; 5xx errors keep
/// their cause for the log and show the client nothing but `internal_error`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Cow<'static, str>,
    source: Option<BoxError>,
    /// Seconds to send in `Retry-After`.
    retry_after: Option<u64>,
}

/// The wire form of [`ApiError`].
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:cutroom:problem:not_found",
    "title": "Not Found",
    "status": 404,
    "detail": "no job with this id",
    "code": "not_found"
}))]
pub struct Problem {
    /// `urn:cutroom:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a human.
    pub detail: String,
    /// Stable, machine-readable reason (`validation_failed`, `not_found`, ...).
    pub code: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            source: None,
            retry_after: None,
        }
    }

    /// Too many requests: try again in `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from this credential; retry in {} s",
                    seconds.max(1)
                ),
            )
        }
    }

    /// The same answer, telling the client to come back in `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The tenant's monthly media minutes are used up: try again when the
    /// quota resets (`Retry-After`), or ask the operator for more.
    pub fn quota_exceeded(detail: String, reset_in_secs: u64) -> Self {
        Self {
            retry_after: Some(reset_in_secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", detail)
        }
    }

    /// Something failed on our side. The cause is logged once, when the
    /// response is rendered, and never shown to the client.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            detail: "an internal error occurred; it has been logged".into(),
            source: Some(source.into()),
            retry_after: None,
        }
    }

    pub fn validation(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// Also the answer for another tenant's resources, so they cannot be told apart.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with this id"),
        )
    }

    pub fn conflict(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The body as sent.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:cutroom:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.to_string(),
            code: self.code.to_owned(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::SERVICE_UNAVAILABLE && self.source.is_none() {
            // Shedding load on purpose (`Retry-After` says when to come back).
            tracing::warn!(code = self.code, detail = %self.detail, "request shed");
        } else if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(error = %source, code = self.code, "request failed")
                }
                None => tracing::error!(code = self.code, detail = %self.detail, "request failed"),
            }
        }
        let body = serde_json::to_vec(&self.problem()).expect("a problem is plain data");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

// The schema is the one of the wire form, registered under the name `Problem`.
impl PartialSchema for ApiError {
    fn schema() -> RefOr<Schema> {
        Problem::schema()
    }
}

impl ToSchema for ApiError {
    fn name() -> Cow<'static, str> {
        Problem::name()
    }
}

/// A unique constraint hit by a racing request is a conflict, never a 500.
impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Self::conflict("a conflicting record already exists")
            }
            _ => Self::internal(e),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        Self::internal(e)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(e: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let res = e.into_response();
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn renders_problem_json() {
        let (status, headers, body) = render(ApiError::not_found("job")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:cutroom:problem:not_found",
                "title": "Not Found",
                "status": 404,
                "detail": "no job with this id",
                "code": "not_found",
            })
        );
    }

    #[tokio::test]
    async fn unauthorized_carries_a_challenge() {
        let (status, headers, body) = render(ApiError::unauthorized("missing bearer token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body["code"], "unauthorized");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (status, _, body) = render(ApiError::internal(
            "password=hunter2 in a connection string",
        ))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal_error");
        assert!(!body.to_string().contains("hunter2"));
    }
}

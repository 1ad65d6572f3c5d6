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
use serde::{Deserialize, Serialize};
use utoipa::{PartialSchema, ToSchema, openapi::RefOr, openapi::schema::Schema};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every `code` a problem answer may carry: a public contract, only ever
/// added to, never renamed. The OpenAPI document lists them in
/// `Problem.code`, and each route's responses say which it answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    ApiKeyRequired,
    BadRequest,
    BodyTimeout,
    BodyTooLarge,
    BudgetExceeded,
    Conflict,
    EmailTaken,
    ExternalIdTaken,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InternalError,
    InvalidCredentials,
    InvalidIdempotencyKey,
    InvalidInvitation,
    InvalidLlmEndpoint,
    InvalidLogo,
    InvalidQuery,
    InvalidRefreshToken,
    InvalidSourceUrl,
    InvalidWebhookUrl,
    InvitationAccepted,
    InvitationExpired,
    InvitationForAnotherEmail,
    JobFinished,
    JobNotFinished,
    JobRunning,
    JobSucceeded,
    LastOwner,
    LengthRequired,
    LogoDimensions,
    LogoTooLarge,
    MalformedJson,
    MethodNotAllowed,
    MetricsLocalOnly,
    NotAMember,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SampleTooNoisy,
    SampleTooShort,
    ServerBusy,
    SessionHeaderMissing,
    SeveralSpeakers,
    SignatureMismatch,
    SourceExpired,
    SourceGone,
    SourceNotKept,
    TooManyStreams,
    TooManyWebhooks,
    Unauthorized,
    UnsupportedContentType,
    UnsupportedLogoType,
    UnsupportedMediaType,
    UploadCompleted,
    UploadExpired,
    UploadInProgress,
    UploadMissing,
    UploadPartsInvalid,
    UploadSizeMismatch,
    UploadTooLarge,
    UrlExpired,
    ValidationFailed,
    WebhookDisabled,
}

impl ProblemCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::ApiKeyRequired => "api_key_required",
            ProblemCode::BadRequest => "bad_request",
            ProblemCode::BodyTimeout => "body_timeout",
            ProblemCode::BodyTooLarge => "body_too_large",
            ProblemCode::BudgetExceeded => "budget_exceeded",
            ProblemCode::Conflict => "conflict",
            ProblemCode::EmailTaken => "email_taken",
            ProblemCode::ExternalIdTaken => "external_id_taken",
            ProblemCode::Forbidden => "forbidden",
            ProblemCode::IdempotencyInProgress => "idempotency_in_progress",
            ProblemCode::IdempotencyKeyReused => "idempotency_key_reused",
            ProblemCode::InternalError => "internal_error",
            ProblemCode::InvalidCredentials => "invalid_credentials",
            ProblemCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ProblemCode::InvalidInvitation => "invalid_invitation",
            ProblemCode::InvalidLlmEndpoint => "invalid_llm_endpoint",
            ProblemCode::InvalidLogo => "invalid_logo",
            ProblemCode::InvalidQuery => "invalid_query",
            ProblemCode::InvalidRefreshToken => "invalid_refresh_token",
            ProblemCode::InvalidSourceUrl => "invalid_source_url",
            ProblemCode::InvalidWebhookUrl => "invalid_webhook_url",
            ProblemCode::InvitationAccepted => "invitation_accepted",
            ProblemCode::InvitationExpired => "invitation_expired",
            ProblemCode::InvitationForAnotherEmail => "invitation_for_another_email",
            ProblemCode::JobFinished => "job_finished",
            ProblemCode::JobNotFinished => "job_not_finished",
            ProblemCode::JobRunning => "job_running",
            ProblemCode::JobSucceeded => "job_succeeded",
            ProblemCode::LastOwner => "last_owner",
            ProblemCode::LengthRequired => "length_required",
            ProblemCode::LogoDimensions => "logo_dimensions",
            ProblemCode::LogoTooLarge => "logo_too_large",
            ProblemCode::MalformedJson => "malformed_json",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::MetricsLocalOnly => "metrics_local_only",
            ProblemCode::NotAMember => "not_a_member",
            ProblemCode::NotFound => "not_found",
            ProblemCode::PayloadTooLarge => "payload_too_large",
            ProblemCode::QuotaExceeded => "quota_exceeded",
            ProblemCode::RateLimited => "rate_limited",
            ProblemCode::SampleTooNoisy => "sample_too_noisy",
            ProblemCode::SampleTooShort => "sample_too_short",
            ProblemCode::ServerBusy => "server_busy",
            ProblemCode::SessionHeaderMissing => "session_header_missing",
            ProblemCode::SeveralSpeakers => "several_speakers",
            ProblemCode::SignatureMismatch => "signature_mismatch",
            ProblemCode::SourceExpired => "source_expired",
            ProblemCode::SourceGone => "source_gone",
            ProblemCode::SourceNotKept => "source_not_kept",
            ProblemCode::TooManyStreams => "too_many_streams",
            ProblemCode::TooManyWebhooks => "too_many_webhooks",
            ProblemCode::Unauthorized => "unauthorized",
            ProblemCode::UnsupportedContentType => "unsupported_content_type",
            ProblemCode::UnsupportedLogoType => "unsupported_logo_type",
            ProblemCode::UnsupportedMediaType => "unsupported_media_type",
            ProblemCode::UploadCompleted => "upload_completed",
            ProblemCode::UploadExpired => "upload_expired",
            ProblemCode::UploadInProgress => "upload_in_progress",
            ProblemCode::UploadMissing => "upload_missing",
            ProblemCode::UploadPartsInvalid => "upload_parts_invalid",
            ProblemCode::UploadSizeMismatch => "upload_size_mismatch",
            ProblemCode::UploadTooLarge => "upload_too_large",
            ProblemCode::UrlExpired => "url_expired",
            ProblemCode::ValidationFailed => "validation_failed",
            ProblemCode::WebhookDisabled => "webhook_disabled",
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer. Build it with the constructors below; 5xx errors keep
/// their cause for the log and show the client nothing but `internal_error`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ProblemCode,
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
    pub code: ProblemCode,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: ProblemCode,
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
                ProblemCode::RateLimited,
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
    /// 429 `budget_exceeded`: the tenant's monthly budget is spent and its
    /// settings say jobs then stop.
    pub fn budget_exceeded(detail: String, reset_in_secs: u64) -> Self {
        Self {
            retry_after: Some(reset_in_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::BudgetExceeded,
                detail,
            )
        }
    }

    pub fn quota_exceeded(detail: String, reset_in_secs: u64) -> Self {
        Self {
            retry_after: Some(reset_in_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ProblemCode::QuotaExceeded,
                detail,
            )
        }
    }

    /// Something failed on our side. The cause is logged once, when the
    /// response is rendered, and never shown to the client.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ProblemCode::InternalError,
            detail: "an internal error occurred; it has been logged".into(),
            source: Some(source.into()),
            retry_after: None,
        }
    }

    pub fn validation(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::ValidationFailed,
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ProblemCode::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ProblemCode::Forbidden, detail)
    }

    /// Also the answer for another tenant's resources, so they cannot be told apart.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            format!("no {what} with this id"),
        )
    }

    pub fn conflict(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, ProblemCode::Conflict, detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code.as_str()
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
            code: self.code,
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
            tracing::warn!(code = self.code.as_str(), detail = %self.detail, "request shed");
        } else if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(error = %source, code = self.code.as_str(), "request failed")
                }
                None => {
                    tracing::error!(code = self.code.as_str(), detail = %self.detail, "request failed")
                }
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

    /// [`ProblemCode`], which `Problem` refers to.
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        Problem::schemas(schemas);
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

    /// Every code a route's responses name (a description's leading
    /// `` `code` ``, and each `` `code`: `` after it) is one a problem can
    /// carry, and every code the document lists reads back as itself.
    #[test]
    fn the_documented_codes_are_problem_codes() {
        let spec = serde_json::to_value(crate::openapi()).unwrap();
        let listed: Vec<String> =
            serde_json::from_value(spec["components"]["schemas"]["ProblemCode"]["enum"].clone())
                .unwrap();
        for name in &listed {
            let code: ProblemCode = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(code.as_str(), name);
        }
        let snake =
            |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        let mut named = 0;
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for (status, r) in responses {
                    if !status.starts_with(['4', '5']) {
                        continue;
                    }
                    let text = r["description"].as_str().unwrap_or_default();
                    let parts: Vec<&str> = text.split('`').collect();
                    for i in (1..parts.len()).step_by(2) {
                        let after = parts.get(i + 1).copied().unwrap_or_default();
                        let leading = i == 1 && parts[0].is_empty();
                        if snake(parts[i]) && (leading || after.starts_with(':')) {
                            named += 1;
                            assert!(
                                listed.iter().any(|c| c == parts[i]),
                                "{method} {path} {status} names `{}`, which is no ProblemCode",
                                parts[i]
                            );
                        }
                    }
                }
            }
        }
        assert!(
            named > 50,
            "only {named} codes named: the rule reads nothing"
        );
    }
}

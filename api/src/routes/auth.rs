//! Signup, login, token refresh, logout and invitation acceptance: the
//! endpoints that hand out credentials rather than require them.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use cutroom_entities::{Role, membership, tenant, user};
use sea_orm::{DbErr, SqlErr};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::{
        cookie,
        credentials::sha256_hex,
        password,
        session::{self, TokenResponse},
    },
    error::ApiError,
    extract::{Json, JsonOrEmpty},
    queries::{accounts, invitations},
    validate,
};

use super::invitations::{check_open, invalid_invitation, join};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(accept_invite))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(example = "ada@example.org")]
    pub email: String,
    /// At least 8 characters.
    #[schema(min_length = 8)]
    pub password: String,
    /// Your name.
    pub name: String,
    /// The organisation to create; you become its owner.
    pub tenant_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant to act in; defaults to the one you joined first.
    pub tenant_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Left out (or no body at all) in a browser session: the
    /// `cutroom_refresh` cookie is used, with `X-Cutroom-Session: cookie`.
    pub refresh_token: Option<String>,
    /// Switch tenants: the new tokens act in this tenant, which you must
    /// belong to (see `memberships` in `GET /v1/me`). Left out: the same.
    pub tenant_id: Option<Uuid>,
}

/// The refresh token of the request: the body's, else a browser
/// session's cookie.
fn presented(headers: &HeaderMap, req: &RefreshRequest) -> Result<Option<String>, ApiError> {
    match &req.refresh_token {
        Some(t) => Ok(Some(t.trim().to_owned())),
        None => cookie::token(headers),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteRequest {
    /// The `cri_...` token from the invitation.
    pub token: String,
    /// Your name (ignored when you already have an account).
    pub name: String,
    /// A new password, or your current one when you already have an account.
    pub password: String,
}

fn email_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ProblemCode::EmailTaken,
        "an account with this email already exists; log in instead",
    )
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ProblemCode::InvalidCredentials,
        "wrong email or password",
    )
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Create an organisation and its owner account.
#[utoipa::path(
    post, path = "/v1/auth/signup", tag = "auth", security(()),
    params(("X-Cutroom-Session" = Option<String>, Header, description = "`cookie`: a browser session; the refresh token goes in an HttpOnly cookie instead of the body")),
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account and tenant created; you are logged in", body = TokenResponse),
        (status = 409, description = "`email_taken`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn signup(
    state: AppState,
    headers: HeaderMap,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let email = validate::email(&req.email)?;
    let name = validate::text("name", &req.name, 200)?;
    let tenant_name = validate::text("tenant_name", &req.tenant_name, 200)?;
    password::check_policy(&req.password)?;
    let db = &state.db.orm;
    if accounts::user_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = state.hasher.hash(req.password).await?;
    let now = Utc::now();
    let tx = cutroom_core::db::begin_write(db).await?;
    let tenant = accounts::insert_tenant(
        &tx,
        tenant::Model {
            id: Uuid::now_v7(),
            name: tenant_name,
            created_at: now,
            settings: None,
            quota_media_minutes: None,
        },
    )
    .await?;
    let user = user::Model {
        id: Uuid::now_v7(),
        email,
        name,
        password_hash,
        created_at: now,
    };
    // Two signups racing for one email: the unique index decides.
    let user = accounts::insert_user(&tx, user).await.map_err(|e| {
        if is_unique_violation(&e) {
            email_taken()
        } else {
            e.into()
        }
    })?;
    let owner = membership::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_id: user.id,
        role: Role::Owner,
        created_at: now,
    };
    accounts::insert_membership(&tx, owner).await?;
    let tokens = session::start(&state, &tx, user.id, tenant.id, Role::Owner).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user.id, "signed up");
    Ok(cookie::respond(
        &state,
        &headers,
        StatusCode::CREATED,
        tokens,
    ))
}

/// Log in with email and password.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth", security(()),
    params(("X-Cutroom-Session" = Option<String>, Header, description = "`cookie`: a browser session; the refresh token goes in an HttpOnly cookie instead of the body")),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not a member of the requested tenant", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many attempts from this address or on this account; see `Retry-After`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn login(
    state: AppState,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let db = &state.db.orm;
    let email = req.email.trim().to_lowercase();
    state.auth_guard.check_account(&email)?;
    let user = accounts::user_by_email(db, &email).await?;
    // No password that long is set (hashing cost grows with the input).
    let verified = match &user {
        _ if req.password.len() > password::MAX_LEN => false,
        Some(u) => {
            state
                .hasher
                .verify(req.password, u.password_hash.clone())
                .await?
        }
        None => {
            // Same work as for a real account, so timing does not reveal which emails exist.
            let dummy = state
                .dummy_hash
                .get_or_try_init(|| state.hasher.hash("not a password".into()))
                .await?;
            state.hasher.verify(req.password, dummy.clone()).await?;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        return Err(invalid_credentials());
    };
    let memberships = accounts::memberships_of_user(db, user.id).await?;
    let chosen = match req.tenant_id {
        Some(tid) => memberships.iter().find(|(m, _)| m.tenant_id == tid),
        None => memberships.first(),
    };
    let Some((m, _)) = chosen else {
        return Err(ApiError::forbidden(if req.tenant_id.is_some() {
            "you are not a member of that tenant"
        } else {
            "this account is not a member of any tenant"
        }));
    };
    let tokens = session::start(&state, db, user.id, m.tenant_id, m.role).await?;
    Ok(cookie::respond(&state, &headers, StatusCode::OK, tokens))
}

/// Trade a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once. Presenting one again ends the session
/// it belongs to (every token of that login), as it means it leaked.
/// With `tenant_id`, the session moves to another tenant of yours.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth", security(()),
    params(("X-Cutroom-Session" = Option<String>, Header, description = "`cookie`: a browser session; the refresh token goes in an HttpOnly cookie instead of the body")),
    request_body(content = Option<RefreshRequest>, description = "The refresh token; left out in a browser session"),
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`: none sent, unknown, expired, revoked or reused", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`session_header_missing`: the session cookie without `X-Cutroom-Session: cookie`; `not_a_member`: `tenant_id` is not one of your tenants", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn refresh(
    state: AppState,
    headers: HeaderMap,
    JsonOrEmpty(req): JsonOrEmpty<RefreshRequest>,
) -> Result<Response, ApiError> {
    let token = presented(&headers, &req)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::InvalidRefreshToken,
            "no refresh token: send it in the body, or the session cookie with `X-Cutroom-Session: cookie`",
        )
    })?;
    let tokens = session::refresh(&state, &token, req.tenant_id).await?;
    Ok(cookie::respond(&state, &headers, StatusCode::OK, tokens))
}

/// End the session a refresh token belongs to.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth", security(()),
    params(("X-Cutroom-Session" = Option<String>, Header, description = "`cookie`: a browser session; the refresh token goes in an HttpOnly cookie instead of the body")),
    request_body(content = Option<RefreshRequest>, description = "The refresh token; left out in a browser session"),
    responses(
        (status = 204, description = "Logged out (also for unknown tokens); a browser session's cookie is removed"),
        (status = 403, description = "`session_header_missing`: the session cookie without `X-Cutroom-Session: cookie`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn logout(
    state: AppState,
    headers: HeaderMap,
    JsonOrEmpty(req): JsonOrEmpty<RefreshRequest>,
) -> Result<Response, ApiError> {
    if let Some(token) = presented(&headers, &req)? {
        session::logout(&state, &token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if cookie::wanted(&headers) {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie::cleared(&state));
    }
    Ok(response)
}

/// Join a tenant with an invitation token, creating your account if needed.
#[utoipa::path(
    post, path = "/v1/auth/accept-invite", tag = "auth", security(()),
    params(("X-Cutroom-Session" = Option<String>, Header, description = "`cookie`: a browser session; the refresh token goes in an HttpOnly cookie instead of the body")),
    request_body = AcceptInviteRequest,
    responses(
        (status = 200, description = "Joined; logged in to the inviting tenant", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: the account exists and the password is not its password", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`invalid_invitation`: unknown, already used, declined or revoked", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn accept_invite(
    state: AppState,
    headers: HeaderMap,
    Json(req): Json<AcceptInviteRequest>,
) -> Result<Response, ApiError> {
    let db = &state.db.orm;
    let inv = invitations::by_token_hash(db, &sha256_hex(req.token.trim()))
        .await?
        .ok_or_else(invalid_invitation)?;
    let now = Utc::now();
    check_open(&inv, now)?;
    // The invitation joins the account of its address, whoever holds the
    // token: an existing one proves it with its password.
    let existing = accounts::user_by_email(db, &inv.email).await?;
    let new_user = match &existing {
        Some(u) => {
            if !state
                .hasher
                .verify(req.password, u.password_hash.clone())
                .await?
            {
                return Err(invalid_credentials());
            }
            None
        }
        None => {
            let name = validate::text("name", &req.name, 200)?;
            password::check_policy(&req.password)?;
            let password_hash = state.hasher.hash(req.password).await?;
            Some(user::Model {
                id: Uuid::now_v7(),
                email: inv.email.clone(),
                name,
                password_hash,
                created_at: now,
            })
        }
    };
    let tx = cutroom_core::db::begin_write(db).await?;
    let user_id = match new_user {
        Some(u) => {
            accounts::insert_user(&tx, u)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        email_taken()
                    } else {
                        e.into()
                    }
                })?
                .id
        }
        None => existing.as_ref().map(|u| u.id).expect("an existing user"),
    };
    let role = join(&tx, &inv, user_id, now).await?.role;
    let tokens = session::start(&state, &tx, user_id, inv.tenant_id, role).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %inv.tenant_id, user.id = %user_id, "invitation accepted");
    Ok(cookie::respond(&state, &headers, StatusCode::OK, tokens))
}

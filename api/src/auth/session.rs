//! Sessions: an access token plus a refresh token that is rotated on every
//! use. Tokens of one login form a family; presenting a token that was
//! already used means it was stolen or replayed, and ends the whole family.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_entities::{Role, refresh_token};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::{REFRESH_TOKEN_PREFIX, random_token, sha256_hex};
use crate::ProblemCode;
use crate::{app::App, error::ApiError, queries};

/// The answer to signup, login, refresh and invitation acceptance.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
    /// Single use: `POST /v1/auth/refresh` returns a new one with each new
    /// access token. Left out in a browser session
    /// (`X-Cutroom-Session: cookie`): it is in the `cutroom_refresh`
    /// cookie instead, out of reach of the page's scripts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub refresh_expires_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: Role,
}

fn invalid(detail: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ProblemCode::InvalidRefreshToken,
        detail,
    )
}

/// Starts a new session (a new token family) for a member.
pub async fn start(
    app: &App,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    tenant_id: Uuid,
    role: Role,
) -> Result<TokenResponse, ApiError> {
    issue(app, db, user_id, tenant_id, role, Uuid::now_v7()).await
}

async fn issue(
    app: &App,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    tenant_id: Uuid,
    role: Role,
    family_id: Uuid,
) -> Result<TokenResponse, ApiError> {
    let now = Utc::now();
    let ttl = app.config.access_token_ttl;
    let (access_token, expires_at) = app
        .jwt
        .issue(user_id, tenant_id, role, ttl, now)
        .map_err(ApiError::internal)?;
    let refresh = random_token(REFRESH_TOKEN_PREFIX);
    let refresh_expires_at = now + app.config.refresh_token_ttl;
    queries::refresh_tokens::insert(
        db,
        refresh_token::Model {
            id: Uuid::now_v7(),
            user_id,
            tenant_id,
            family_id,
            token_hash: sha256_hex(&refresh),
            expires_at: refresh_expires_at,
            used_at: None,
            revoked_at: None,
            created_at: now,
        },
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ttl.as_secs(),
        expires_at,
        refresh_token: Some(refresh),
        refresh_expires_at,
        user_id,
        tenant_id,
        role,
    })
}

/// Trades a refresh token for a new pair, in the same tenant and family.
/// Rotates a refresh token; with `switch_to`, the new pair acts in that
/// tenant (the session must belong to one of the user's tenants).
pub async fn refresh(
    app: &App,
    token: &str,
    switch_to: Option<Uuid>,
) -> Result<TokenResponse, ApiError> {
    let db = &app.db.orm;
    if !token.starts_with(REFRESH_TOKEN_PREFIX) {
        return Err(invalid("not a refresh token"));
    }
    let row = queries::refresh_tokens::by_hash(db, &sha256_hex(token))
        .await?
        .ok_or_else(|| invalid("unknown refresh token"))?;
    let now = Utc::now();
    if row.revoked_at.is_some() {
        return Err(invalid("this session has ended; log in again"));
    }
    if row.used_at.is_some() {
        return Err(reuse_detected(app, &row, now).await);
    }
    if row.expires_at <= now {
        return Err(invalid("the refresh token has expired; log in again"));
    }
    let Some(membership) = queries::accounts::membership(db, row.tenant_id, row.user_id).await?
    else {
        queries::refresh_tokens::revoke_family(db, row.family_id, now).await?;
        return Err(invalid("no longer a member of this tenant"));
    };
    // Checked before the token is used, so a wrong id costs nothing.
    let (tenant_id, role) = match switch_to {
        Some(t) if t != row.tenant_id => {
            let m = queries::accounts::membership(db, t, row.user_id)
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        ProblemCode::NotAMember,
                        "you are not a member of that tenant; `GET /v1/me` lists yours",
                    )
                })?;
            (t, m.role)
        }
        _ => (row.tenant_id, membership.role),
    };
    let tx = cutroom_core::db::begin_write(db).await?;
    if !queries::refresh_tokens::mark_used(&tx, row.id, now).await? {
        drop(tx);
        // Another request used it a moment ago: one of the two is a replay.
        return Err(reuse_detected(app, &row, now).await);
    }
    let pair = issue(app, &tx, row.user_id, tenant_id, role, row.family_id).await?;
    tx.commit().await?;
    Ok(pair)
}

async fn reuse_detected(app: &App, row: &refresh_token::Model, now: DateTime<Utc>) -> ApiError {
    tracing::warn!(user.id = %row.user_id, tenant.id = %row.tenant_id, "refresh token reused; revoking its family");
    if let Err(e) = queries::refresh_tokens::revoke_family(&app.db.orm, row.family_id, now).await {
        return e.into();
    }
    invalid("this refresh token was already used; the session has been ended for safety")
}

/// Ends the session the token belongs to. Unknown tokens are ignored, so
/// logging out twice is harmless.
pub async fn logout(app: &App, token: &str) -> Result<(), ApiError> {
    let db = &app.db.orm;
    if let Some(row) = queries::refresh_tokens::by_hash(db, &sha256_hex(token)).await? {
        queries::refresh_tokens::revoke_family(db, row.family_id, Utc::now()).await?;
    }
    Ok(())
}

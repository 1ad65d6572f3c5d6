//! Who is calling, for which tenant, with which role.
//!
//! [`AuthContext`] is an extractor: a handler that takes one cannot run
//! without a valid credential, and every tenant-owned query it makes takes
//! `ctx.tenant_id`.

pub mod cookie;
pub mod credentials;
pub mod guard;
pub mod jwt;
pub mod limit;
pub mod password;
pub mod session;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use chrono::{Duration, Utc};
use cutroom_entities::Role;
use uuid::Uuid;

use crate::{app::AppState, error::ApiError, queries};

/// `last_used_at` is written at most this often per key, not on every request.
const KEY_USE_RESOLUTION: Duration = Duration::seconds(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User { id: Uuid },
    ApiKey { id: Uuid },
}

#[derive(Clone, Debug)]
pub struct AuthContext {
    pub tenant_id: Uuid,
    pub role: Role,
    pub principal: Principal,
}

impl AuthContext {
    /// Creating, cancelling and deleting jobs and uploads: members and up.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::forbidden("viewers can only read"))
        }
    }

    /// Members and API keys: admins and owners.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.can_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only admins and owners can do this"))
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match self.principal {
            Principal::User { id } => Some(id),
            Principal::ApiKey { .. } => None,
        }
    }

    /// The `created_by` of rows this caller creates: `user:<id>` or `api_key:<id>`.
    pub fn actor(&self) -> String {
        match self.principal {
            Principal::User { id } => format!("user:{id}"),
            Principal::ApiKey { id } => format!("api_key:{id}"),
        }
    }

    /// The id of whoever acts: the user, or the API key itself.
    pub fn actor_id(&self) -> Uuid {
        match self.principal {
            Principal::User { id } | Principal::ApiKey { id } => id,
        }
    }
}

impl<S> FromRequestParts<S> for AuthContext
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A middleware (Idempotency-Key) may have authenticated already.
        if let Some(ctx) = parts.extensions.get::<AuthContext>() {
            return Ok(ctx.clone());
        }
        let app = AppState::from_ref(state);
        let token = bearer_token(parts)?;
        let ctx = if token.starts_with(credentials::API_KEY_PREFIX) {
            authenticate_api_key(&app, token).await?
        } else {
            authenticate_jwt(&app, token).await?
        };
        tracing::Span::current().record("tenant.id", tracing::field::display(ctx.tenant_id));
        if let Some(limiter) = &app.limiter {
            limiter.check(ctx.principal)?;
        }
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer` header"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        )),
    }
}

async fn authenticate_jwt(app: &AppState, token: &str) -> Result<AuthContext, ApiError> {
    let claims = app.jwt.verify(token).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            ApiError::unauthorized("the access token has expired")
        }
        _ => ApiError::unauthorized("invalid access token"),
    })?;
    // The membership, not the token, decides: removing or demoting a member
    // takes effect on their next request, not when their token runs out.
    let membership = queries::accounts::membership(&app.db.orm, claims.tid, claims.sub)
        .await?
        .ok_or_else(|| ApiError::unauthorized("no longer a member of this tenant"))?;
    Ok(AuthContext {
        tenant_id: claims.tid,
        role: membership.role,
        principal: Principal::User { id: claims.sub },
    })
}

async fn authenticate_api_key(app: &AppState, token: &str) -> Result<AuthContext, ApiError> {
    let invalid = || ApiError::unauthorized("invalid API key");
    let (prefix, secret) = credentials::parse_api_key(token).ok_or_else(invalid)?;
    let key = queries::api_keys::by_prefix(&app.db.orm, prefix)
        .await?
        .ok_or_else(invalid)?;
    let digest = credentials::sha256_hex(secret);
    if !credentials::constant_time_eq(digest.as_bytes(), key.secret_hash.as_bytes()) {
        return Err(invalid());
    }
    if key.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key has been revoked"));
    }
    let now = Utc::now();
    if key
        .last_used_at
        .is_none_or(|t| now - t >= KEY_USE_RESOLUTION)
    {
        // Bookkeeping: a failed write must not fail the request.
        if let Err(e) = queries::api_keys::touch(&app.db.orm, key.tenant_id, key.id, now).await {
            tracing::warn!(error = %e, api_key.id = %key.id, "could not record API key use");
        }
    }
    Ok(AuthContext {
        tenant_id: key.tenant_id,
        role: key.role,
        principal: Principal::ApiKey { id: key.id },
    })
}

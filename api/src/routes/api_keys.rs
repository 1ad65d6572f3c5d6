//! API keys: credentials for programs, managed by admins. The full key is
//! shown once, at creation; afterwards only its public prefix is.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_entities::{Role, api_key};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{AuthContext, credentials::generate_api_key},
    error::ApiError,
    extract::{Json, Path},
    queries::api_keys,
    validate,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `ci-pipeline`.
    pub name: String,
    /// At most your own role.
    #[serde(default = "default_role")]
    #[schema(default = "member")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::Member
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    /// The whole key, `crk_<prefix>_<secret>`. Shown only now: store it.
    pub key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// `crk_` and 12 characters: enough to recognise the key, useless without the secret.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Accurate to about a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyInfo>,
}

impl From<api_key::Model> for ApiKeyInfo {
    fn from(k: api_key::Model) -> Self {
        ApiKeyInfo {
            id: k.id,
            name: k.name,
            role: k.role,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Create an API key.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; the key is in `key` and is not shown again", body = ApiKeyCreated),
        (status = 403, description = "`forbidden`: not an admin, or a role above your own", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn create_key(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    ctx.require_admin()?;
    if req.role > ctx.role {
        return Err(ApiError::forbidden(
            "a key cannot have a higher role than its creator",
        ));
    }
    let name = validate::text("name", &req.name, 100)?;
    let generated = generate_api_key();
    let key = api_key::Model {
        id: Uuid::now_v7(),
        tenant_id: ctx.tenant_id,
        name,
        prefix: generated.prefix,
        secret_hash: generated.secret_hash,
        role: req.role,
        created_by: ctx.actor_id(),
        created_at: Utc::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let key = api_keys::insert(&state.db.orm, key).await?;
    tracing::info!(api_key.id = %key.id, "API key created");
    let body = ApiKeyCreated {
        id: key.id,
        name: key.name,
        role: key.role,
        prefix: key.prefix,
        key: generated.full,
        created_at: key.created_at,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// The tenant's API keys, newest first, revoked ones included.
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, without secrets", body = ApiKeyList),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_keys(state: AppState, ctx: AuthContext) -> Result<Json<ApiKeyList>, ApiError> {
    ctx.require_admin()?;
    let items = api_keys::list(&state.db.orm, ctx.tenant_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ApiKeyList { items }))
}

/// Revoke an API key. It stops working at once; revoking twice is harmless.
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn revoke_key(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.require_admin()?;
    if !api_keys::revoke(&state.db.orm, ctx.tenant_id, id, Utc::now()).await? {
        return Err(ApiError::not_found("API key"));
    }
    tracing::info!(api_key.id = %id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

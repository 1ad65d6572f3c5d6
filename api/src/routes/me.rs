//! Who the credential belongs to.

use chrono::{DateTime, Utc};
use cutroom_entities::Role;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{AuthContext, Principal},
    error::ApiError,
    extract::Json,
    queries::{accounts, api_keys, invitations},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The person, for a user token; `null` for an API key.
    pub user: Option<UserInfo>,
    /// The API key, when the request used one.
    pub api_key: Option<ApiKeyRef>,
    /// The tenant this credential acts in.
    pub tenant: TenantInfo,
    pub role: Role,
    /// Every tenant the user belongs to (log in with `tenant_id` to switch).
    pub memberships: Vec<MembershipInfo>,
    /// Open invitations to the user's address, oldest first: accept one
    /// with its token (`POST /v1/me/invitations/accept`) or decline it.
    /// Empty for an API key.
    pub pending_invitations: Vec<PendingInvitation>,
}

/// An invitation as its invitee sees it: which tenant, as what.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingInvitation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyRef {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipInfo {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// The current user (or API key), tenant and role.
#[utoipa::path(
    get, path = "/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn me(state: AppState, ctx: AuthContext) -> Result<Json<Me>, ApiError> {
    let db = &state.db.orm;
    let tenant = accounts::tenant(db, ctx.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the tenant no longer exists"))?;
    let tenant = TenantInfo {
        id: tenant.id,
        name: tenant.name,
        created_at: tenant.created_at,
    };
    let me = match ctx.principal {
        Principal::User { id } => {
            let user = accounts::user_by_id(db, id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
            let memberships = accounts::memberships_of_user(db, id)
                .await?
                .into_iter()
                .map(|(m, t)| MembershipInfo {
                    tenant_id: t.id,
                    tenant_name: t.name,
                    role: m.role,
                    joined_at: m.created_at,
                })
                .collect();
            let pending_invitations = invitations::open_for_email(db, &user.email, Utc::now())
                .await?
                .into_iter()
                .map(|(i, t)| PendingInvitation {
                    id: i.id,
                    tenant_id: t.id,
                    tenant_name: t.name,
                    role: i.role,
                    created_at: i.created_at,
                    expires_at: i.expires_at,
                })
                .collect();
            Me {
                user: Some(UserInfo {
                    id: user.id,
                    email: user.email,
                    name: user.name,
                    created_at: user.created_at,
                }),
                api_key: None,
                tenant,
                role: ctx.role,
                memberships,
                pending_invitations,
            }
        }
        Principal::ApiKey { id } => {
            let key = api_keys::get(db, ctx.tenant_id, id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("the API key no longer exists"))?;
            Me {
                user: None,
                api_key: Some(ApiKeyRef {
                    id: key.id,
                    name: key.name,
                    prefix: key.prefix,
                }),
                tenant,
                role: ctx.role,
                memberships: Vec::new(),
                pending_invitations: Vec::new(),
            }
        }
    };
    Ok(Json(me))
}

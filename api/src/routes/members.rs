//! A tenant's members. Everyone in the tenant can list; admins and owners
//! invite and change; only owners grant or take away ownership, and a
//! tenant always keeps at least one owner.
//!
//! Nobody is added without saying yes: adding someone creates an
//! invitation whatever the address, which its invitee accepts with the
//! token (`routes::invitations`). Addresses are not verified, so naming an
//! address must neither make its account a member nor tell whether it has
//! one.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use cutroom_entities::{Role, invitation, membership, user};
use sea_orm::Iterable;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::{
        AuthContext,
        credentials::{INVITATION_PREFIX, random_token, sha256_hex},
    },
    error::ApiError,
    extract::{Json, Path},
    queries::{accounts, api_keys, invitations, refresh_tokens},
    validate,
};

const INVITATION_TTL: Duration = Duration::days(7);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<Member>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub email: String,
    pub role: Role,
}

/// The same whether or not the address has an account: which it is, is
/// not the inviting tenant's to know.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddMemberResponse {
    /// Pass the token on to the invitee.
    pub invitation: InvitationCreated,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationCreated {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// Shown once. Redeemed with `POST /v1/me/invitations/accept` by the
    /// signed-in account of `email`, or with `POST /v1/auth/accept-invite`
    /// (which creates that account when there is none).
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

fn member(m: membership::Model, u: user::Model) -> Member {
    Member {
        user_id: u.id,
        email: u.email,
        name: u.name,
        role: m.role,
        joined_at: m.created_at,
    }
}

fn check_grant(ctx: &AuthContext, role: Role) -> Result<(), ApiError> {
    if role == Role::Owner && ctx.role != Role::Owner {
        return Err(ApiError::forbidden("only owners can grant the owner role"));
    }
    Ok(())
}

fn last_owner() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ProblemCode::LastOwner,
        "a tenant must keep at least one owner",
    )
}

/// Members of the tenant, oldest first.
#[utoipa::path(
    get, path = "/v1/members", tag = "members", security(("bearer" = [])),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_members(state: AppState, ctx: AuthContext) -> Result<Json<MemberList>, ApiError> {
    let items = accounts::members(&state.db.orm, ctx.tenant_id)
        .await?
        .into_iter()
        .map(|(m, u)| member(m, u))
        .collect();
    Ok(Json(MemberList { items }))
}

/// Invite someone by email (valid 7 days). They become a member when they
/// accept it, with or without an account of their own so far; the answer
/// is the same either way.
#[utoipa::path(
    post, path = "/v1/members", tag = "members", security(("bearer" = [])),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Invitation created", body = AddMemberResponse),
        (status = 403, description = "`forbidden`: not an admin, or granting owner without being one", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: already a member", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn add_member(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<AddMemberRequest>,
) -> Result<(StatusCode, Json<AddMemberResponse>), ApiError> {
    ctx.require_admin()?;
    check_grant(&ctx, req.role)?;
    let email = validate::email(&req.email)?;
    let db = &state.db.orm;
    let now = Utc::now();
    // The tenant's own members are no secret to it (`GET /v1/members`).
    if accounts::member_by_email(db, ctx.tenant_id, &email)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict("this person is already a member"));
    }
    let token = random_token(INVITATION_PREFIX);
    let inv = invitation::Model {
        id: Uuid::now_v7(),
        tenant_id: ctx.tenant_id,
        email,
        role: req.role,
        token_hash: sha256_hex(&token),
        invited_by: ctx.actor_id(),
        expires_at: now + INVITATION_TTL,
        accepted_at: None,
        created_at: now,
        declined_at: None,
        revoked_at: None,
    };
    let inv = invitations::insert(db, inv).await?;
    tracing::info!(invitation.id = %inv.id, "invitation created");
    let invitation = InvitationCreated {
        id: inv.id,
        email: inv.email,
        role: inv.role,
        token,
        expires_at: inv.expires_at,
    };
    Ok((StatusCode::CREATED, Json(AddMemberResponse { invitation })))
}

/// Change a member's role. A lower role also takes back what the old one
/// let them make: their API keys (and the keys those made) above the new
/// role are revoked, and so are their open invitations that the new role
/// could not make (all of them when it is below admin, else those above it).
#[utoipa::path(
    patch, path = "/v1/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "The member's user id")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, description = "The member with the new role; when lower, their keys and invitations above it are revoked", body = Member),
        (status = 403, description = "`forbidden`", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such member in this tenant", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`: the tenant would have no owner left", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn update_member(
    state: AppState,
    ctx: AuthContext,
    Path(user_id): Path<Uuid>,
    Json(req): Json<UpdateMemberRequest>,
) -> Result<Json<Member>, ApiError> {
    ctx.require_admin()?;
    check_grant(&ctx, req.role)?;
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    let target = accounts::membership(&tx, ctx.tenant_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == Role::Owner && ctx.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only owners can change an owner's role",
        ));
    }
    if target.role == Role::Owner
        && req.role != Role::Owner
        && accounts::count_owners(&tx, ctx.tenant_id).await? <= 1
    {
        return Err(last_owner());
    }
    accounts::set_role(&tx, ctx.tenant_id, user_id, req.role).await?;
    if req.role < target.role {
        let now = Utc::now();
        let creators =
            api_keys::revoke_made_by(&tx, ctx.tenant_id, user_id, Some(req.role), now).await?;
        // Only admins invite; an admin may still invite up to their role.
        let over: Vec<Role> = if req.role.can_admin() {
            Role::iter().filter(|r| *r > req.role).collect()
        } else {
            Role::iter().collect()
        };
        invitations::revoke_made_by(&tx, ctx.tenant_id, &creators, Some(&over), now).await?;
    }
    let user = accounts::user_by_id(&tx, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    tx.commit().await?;
    Ok(Json(member(
        membership::Model {
            role: req.role,
            ..target
        },
        user,
    )))
}

/// Remove a member (or leave, when it is yourself). What they left behind
/// in the tenant stops working with them: their API keys (and the keys
/// those keys made) are revoked, and so are their open invitations.
#[utoipa::path(
    delete, path = "/v1/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed; their sessions in this tenant are ended, their API keys and open invitations revoked"),
        (status = 403, description = "`forbidden`", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn remove_member(
    state: AppState,
    ctx: AuthContext,
    Path(user_id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if ctx.user_id() != Some(user_id) {
        ctx.require_admin()?;
    }
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    let target = accounts::membership(&tx, ctx.tenant_id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == Role::Owner {
        if ctx.role != Role::Owner {
            return Err(ApiError::forbidden("only owners can remove an owner"));
        }
        if accounts::count_owners(&tx, ctx.tenant_id).await? <= 1 {
            return Err(last_owner());
        }
    }
    let now = Utc::now();
    accounts::remove_member(&tx, ctx.tenant_id, user_id).await?;
    refresh_tokens::revoke_for_member(&tx, ctx.tenant_id, user_id, now).await?;
    let creators = api_keys::revoke_made_by(&tx, ctx.tenant_id, user_id, None, now).await?;
    let revoked = invitations::revoke_made_by(&tx, ctx.tenant_id, &creators, None, now).await?;
    tx.commit().await?;
    tracing::info!(
        user.id = %user_id,
        api_keys = creators.len() - 1,
        invitations = revoked,
        "member removed; what they made is revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

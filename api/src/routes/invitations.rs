//! Invitations from both ends: a tenant's admins list theirs and revoke
//! them (`POST /v1/members` creates them); the invitee, signed in, sees
//! theirs in `GET /v1/me`, accepts one with its token, or declines it.
//!
//! Cutroom does not verify e-mail addresses: an account proves nothing
//! about owning its address, as anyone may sign up with any address first.
//! So being the account of the invited address is not enough to accept:
//! that also takes the token, which the inviter sent to the address itself.
//! Nor is the token enough: it joins only the account of that address
//! (`POST /v1/auth/accept-invite` creates it when there is none).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_entities::{Role, invitation, membership};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::me::MembershipInfo;
use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::{AuthContext, credentials::sha256_hex},
    error::ApiError,
    extract::{Json, Path},
    queries::{accounts, invitations},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
}

/// Where an invitation nobody accepted and no admin revoked stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Waiting for the invitee.
    Pending,
    /// Past `expires_at`: invite again.
    Expired,
    /// The invitee said no.
    Declined,
}

/// An invitation as its tenant's admins see it; the token is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// The user or API key that created it.
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<Invitation>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The `cri_...` token from the invitation.
    pub token: String,
}

fn listed(i: invitation::Model, now: DateTime<Utc>) -> Invitation {
    let status = if i.declined_at.is_some() {
        InvitationStatus::Declined
    } else if i.expires_at <= now {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    };
    Invitation {
        id: i.id,
        email: i.email,
        role: i.role,
        status,
        invited_by: i.invited_by,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

pub(super) fn invalid_invitation() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::InvalidInvitation,
        "unknown, already used, declined or revoked invitation",
    )
}

/// An invitation a token may still redeem: not answered, revoked or expired.
pub(super) fn check_open(inv: &invitation::Model, now: DateTime<Utc>) -> Result<(), ApiError> {
    if inv.accepted_at.is_some() || inv.declined_at.is_some() || inv.revoked_at.is_some() {
        return Err(invalid_invitation());
    }
    if inv.expires_at <= now {
        return Err(ApiError::new(
            StatusCode::GONE,
            ProblemCode::InvitationExpired,
            "the invitation has expired; ask for a new one",
        ));
    }
    Ok(())
}

/// Redeems `inv` for `user_id`, in the caller's transaction: marks it
/// accepted (once: a racing redemption, decline or revocation wins or
/// loses as a whole) and makes the user a member with its role, or keeps
/// the role of one who is a member already.
pub(super) async fn join(
    tx: &impl ConnectionTrait,
    inv: &invitation::Model,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<membership::Model, ApiError> {
    if !invitations::mark_accepted(tx, inv.tenant_id, inv.id, now).await? {
        return Err(invalid_invitation());
    }
    if let Some(m) = accounts::membership(tx, inv.tenant_id, user_id).await? {
        return Ok(m);
    }
    let m = membership::Model {
        id: Uuid::now_v7(),
        tenant_id: inv.tenant_id,
        user_id,
        role: inv.role,
        created_at: now,
    };
    Ok(accounts::insert_membership(tx, m).await?)
}

/// The address of the signed-in person; API keys have none.
async fn signed_in_email(state: &AppState, ctx: &AuthContext) -> Result<(Uuid, String), ApiError> {
    let id = ctx.user_id().ok_or_else(|| {
        ApiError::forbidden("invitations are answered by people: sign in, not with an API key")
    })?;
    let user = accounts::user_by_id(&state.db.orm, id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    Ok((id, user.email))
}

/// The tenant's invitations that nobody accepted and no admin revoked,
/// newest first.
#[utoipa::path(
    get, path = "/v1/invitations", tag = "members", security(("bearer" = [])),
    responses(
        (status = 200, description = "Pending, expired and declined invitations, without tokens", body = InvitationList),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_invitations(
    state: AppState,
    ctx: AuthContext,
) -> Result<Json<InvitationList>, ApiError> {
    ctx.require_admin()?;
    let now = Utc::now();
    let items = invitations::list(&state.db.orm, ctx.tenant_id)
        .await?
        .into_iter()
        .map(|i| listed(i, now))
        .collect();
    Ok(Json(InvitationList { items }))
}

/// Revoke an invitation: its token stops working at once, and it leaves
/// the list. Revoking twice is harmless.
#[utoipa::path(
    delete, path = "/v1/invitations/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`forbidden`: not an admin", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`invitation_accepted`: the invitee is a member now; remove the member instead", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn revoke_invitation(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    ctx.require_admin()?;
    let db = &state.db.orm;
    let accepted = || {
        ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::InvitationAccepted,
            "the invitation was accepted; remove the member instead",
        )
    };
    let inv = invitations::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("invitation"))?;
    if inv.accepted_at.is_some() {
        return Err(accepted());
    }
    if !invitations::revoke(db, ctx.tenant_id, id, Utc::now()).await?
        && invitations::get(db, ctx.tenant_id, id)
            .await?
            .is_some_and(|i| i.accepted_at.is_some())
    {
        // Accepted in the meantime.
        return Err(accepted());
    }
    tracing::info!(invitation.id = %id, "invitation revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation to your own address, with its token: you become a
/// member of its tenant (switch to it with `POST /v1/auth/refresh` and
/// `tenant_id`). Your open invitations are listed in `GET /v1/me`.
#[utoipa::path(
    post, path = "/v1/me/invitations/accept", tag = "auth", security(("bearer" = [])),
    request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "Joined: the new membership", body = MembershipInfo),
        (status = 403, description = "`invitation_for_another_email`: the invitation is for another address; `forbidden`: an API key, not a person", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`invalid_invitation`: unknown, already used, declined or revoked", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_expired`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn accept_invitation(
    state: AppState,
    ctx: AuthContext,
    Json(req): Json<AcceptInvitationRequest>,
) -> Result<Json<MembershipInfo>, ApiError> {
    let (user_id, email) = signed_in_email(&state, &ctx).await?;
    let db = &state.db.orm;
    let inv = invitations::by_token_hash(db, &sha256_hex(req.token.trim()))
        .await?
        .ok_or_else(invalid_invitation)?;
    let now = Utc::now();
    check_open(&inv, now)?;
    if inv.email != email {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::InvitationForAnotherEmail,
            "this invitation is for another email address: accept it as that account",
        ));
    }
    let tx = cutroom_core::db::begin_write(db).await?;
    let m = join(&tx, &inv, user_id, now).await?;
    let tenant = accounts::tenant(&tx, inv.tenant_id)
        .await?
        .ok_or_else(invalid_invitation)?;
    tx.commit().await?;
    tracing::info!(tenant.id = %inv.tenant_id, user.id = %user_id, "invitation accepted");
    Ok(Json(MembershipInfo {
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        role: m.role,
        joined_at: m.created_at,
    }))
}

/// Decline an open invitation to your own address (listed in `GET /v1/me`);
/// its token stops working and its tenant's admins see it declined.
#[utoipa::path(
    post, path = "/v1/me/invitations/{id}/decline", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id, from `pending_invitations` in `GET /v1/me`")),
    responses(
        (status = 204, description = "Declined"),
        (status = 403, description = "`forbidden`: an API key, not a person", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no open invitation to your address with this id", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn decline_invitation(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let (_, email) = signed_in_email(&state, &ctx).await?;
    if !invitations::decline(&state.db.orm, &email, id, Utc::now()).await? {
        return Err(ApiError::not_found("invitation"));
    }
    tracing::info!(invitation.id = %id, "invitation declined");
    Ok(StatusCode::NO_CONTENT)
}

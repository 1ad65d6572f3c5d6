//! Invitations: how anyone but a tenant's creator joins it.

use chrono::{DateTime, Utc};
use cutroom_entities::{Role, invitation, tenant};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

/// Not accepted, declined or revoked (it may still have expired).
fn open() -> Condition {
    Condition::all()
        .add(invitation::Column::AcceptedAt.is_null())
        .add(invitation::Column::DeclinedAt.is_null())
        .add(invitation::Column::RevokedAt.is_null())
}

pub async fn insert(
    db: &impl ConnectionTrait,
    i: invitation::Model,
) -> Result<invitation::Model, DbErr> {
    i.into_active_model().insert(db).await
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find_by_id(id)
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Redemption only: the token names its tenant.
pub async fn by_token_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// What an admin sees: the tenant's invitations nobody accepted and no
/// admin revoked (open, expired or declined), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .order_by_desc(invitation::Column::CreatedAt)
        .order_by_desc(invitation::Column::Id)
        .all(db)
        .await
}

/// What the invitee sees: open, unexpired invitations to `email` (across
/// tenants, as the address is theirs), with the inviting tenant.
pub async fn open_for_email(
    db: &impl ConnectionTrait,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(invitation::Model, tenant::Model)>, DbErr> {
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::Email.eq(email))
        .filter(open())
        .filter(invitation::Column::ExpiresAt.gt(now))
        .order_by_asc(invitation::Column::CreatedAt)
        .order_by_asc(invitation::Column::Id)
        .all(db)
        .await?;
    let tenants = tenant::Entity::find()
        .filter(tenant::Column::Id.is_in(invitations.iter().map(|i| i.tenant_id)))
        .all(db)
        .await?;
    Ok(invitations
        .into_iter()
        .filter_map(|i| {
            let t = tenants.iter().find(|t| t.id == i.tenant_id)?.clone();
            Some((i, t))
        })
        .collect())
}

/// Sets one of the answer columns of an open invitation; false when it was
/// answered (or revoked) first, so a race has exactly one winner.
async fn close(
    db: &impl ConnectionTrait,
    id: Uuid,
    scope: Condition,
    column: invitation::Column,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = invitation::Entity::update_many()
        .col_expr(column, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(id))
        .filter(scope)
        .filter(open())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn mark_accepted(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let scope = Condition::all().add(invitation::Column::TenantId.eq(tenant_id));
    close(db, id, scope, invitation::Column::AcceptedAt, now).await
}

/// The invitee's answer: only an invitation to their own address.
pub async fn decline(
    db: &impl ConnectionTrait,
    email: &str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let scope = Condition::all()
        .add(invitation::Column::Email.eq(email))
        .add(invitation::Column::ExpiresAt.gt(now));
    close(db, id, scope, invitation::Column::DeclinedAt, now).await
}

/// A declined one too, so that it leaves the admins' list; false when it
/// was accepted or revoked already.
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes the open invitations that any of `creators` (users or API keys)
/// made in the tenant, those of a role in `roles` only when given.
pub async fn revoke_made_by(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    creators: &[Uuid],
    roles: Option<&[Role]>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut update = invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::InvitedBy.is_in(creators.iter().copied()))
        .filter(open());
    if let Some(roles) = roles {
        update = update.filter(invitation::Column::Role.is_in(roles.iter().copied()));
    }
    Ok(update.exec(db).await?.rows_affected)
}

//! Refresh tokens and their families (one family per login).

use chrono::{DateTime, Utc};
use cutroom_entities::refresh_token;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(
    db: &impl ConnectionTrait,
    t: refresh_token::Model,
) -> Result<refresh_token::Model, DbErr> {
    t.into_active_model().insert(db).await
}

/// Refresh only: the token names its user and tenant.
pub async fn by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<refresh_token::Model>, DbErr> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

/// Marks a live token used; false when it was used or revoked meanwhile
/// (two refreshes racing with the same token: one of them is a replay).
pub async fn mark_used(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::Id.eq(id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn revoke_family(
    db: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a user in one tenant (after they were removed from it).
pub async fn revoke_for_member(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Some(now)))
        .filter(refresh_token::Column::TenantId.eq(tenant_id))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

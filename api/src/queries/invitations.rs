//! Invitations for people without an account yet.

use chrono::{DateTime, Utc};
use cutroom_entities::invitation;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(
    db: &impl ConnectionTrait,
    i: invitation::Model,
) -> Result<invitation::Model, DbErr> {
    i.into_active_model().insert(db).await
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

/// False when someone redeemed it first.
pub async fn mark_accepted(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Some(now)))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

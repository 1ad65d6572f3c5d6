//! API keys of a tenant.

use chrono::{DateTime, Utc};
use cutroom_entities::{Role, api_key};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, sea_query::Expr,
};
use uuid::Uuid;

pub async fn insert(db: &impl ConnectionTrait, k: api_key::Model) -> Result<api_key::Model, DbErr> {
    k.into_active_model().insert(db).await
}

/// Newest first, revoked ones included (they show when and that they were revoked).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find_by_id(id)
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Authentication only: the key names its tenant, so the lookup cannot.
pub async fn by_prefix(
    db: &impl ConnectionTrait,
    prefix: &str,
) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::Prefix.eq(prefix))
        .one(db)
        .await
}

/// Sets `revoked_at` once; false when the tenant has no such key.
pub async fn revoke(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let exists = get(db, tenant_id, id).await?.is_some();
    if exists {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(exists)
}

pub async fn touch(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(now)))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes the keys that `user_id` made in the tenant, and the keys those
/// keys made, and so on, whose role is above `kept` (all of them when
/// `kept` is `None`: the user was removed). An admin's key can mint admin
/// keys, so removing or demoting the admin must not leave a line of them
/// behind. Returns the user and the ids of all those keys, whatever their
/// role and revoked now or before: whoever made anything the user is
/// answerable for.
pub async fn revoke_made_by(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    kept: Option<Role>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    let mut creators = vec![user_id];
    let mut frontier = vec![user_id];
    let mut over = Vec::new();
    // Each round follows one generation; keys are finite, and each key is
    // seen once, so this ends.
    while !frontier.is_empty() {
        let made: Vec<api_key::Model> = api_key::Entity::find()
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::CreatedBy.is_in(frontier.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .filter(|k| !creators.contains(&k.id))
            .collect();
        over.extend(
            made.iter()
                .filter(|k| kept.is_none_or(|r| k.role > r))
                .map(|k| k.id),
        );
        frontier = made.iter().map(|k| k.id).collect();
        creators.extend(&frontier);
    }
    if !over.is_empty() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now)))
            .filter(api_key::Column::TenantId.eq(tenant_id))
            .filter(api_key::Column::Id.is_in(over))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(creators)
}

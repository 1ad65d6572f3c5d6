//! Presigned uploads and their expiry.

use chrono::{DateTime, Utc};
use cutroom_entities::{UploadStatus, upload};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<upload::Model>, DbErr> {
    upload::Entity::find_by_id(id)
        .filter(upload::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Pending uploads whose URL expired before `cutoff`, oldest first. The
/// sweeper runs across all tenants, so this is the one unscoped query here.
pub async fn expired_pending(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<upload::Model>, DbErr> {
    upload::Entity::find()
        .filter(upload::Column::Status.eq(UploadStatus::Pending))
        .filter(upload::Column::ExpiresAt.lt(cutoff))
        .order_by_asc(upload::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Marks a still-pending upload expired; false when it was completed meanwhile.
pub async fn mark_expired(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let res = upload::Entity::update_many()
        .col_expr(upload::Column::Status, Expr::value(UploadStatus::Expired))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::TenantId.eq(tenant_id))
        .filter(upload::Column::Status.eq(UploadStatus::Pending))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

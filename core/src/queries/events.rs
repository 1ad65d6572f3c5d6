//! A job's history: status changes and stage boundaries, oldest first.

use chrono::Utc;
use cutroom_entities::job_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use uuid::Uuid;

pub async fn record(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    kind: &str,
    stage: Option<&str>,
    message: Option<String>,
    data: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    job_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        job_id: Set(job_id),
        tenant_id: Set(tenant_id),
        kind: Set(kind.to_owned()),
        stage: Set(stage.map(str::to_owned)),
        message: Set(message),
        data: Set(data),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<job_event::Model>, DbErr> {
    job_event::Entity::find()
        .filter(job_event::Column::TenantId.eq(tenant_id))
        .filter(job_event::Column::JobId.eq(job_id))
        .order_by_asc(job_event::Column::Id)
        .all(db)
        .await
}

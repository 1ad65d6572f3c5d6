//! A job's history: status changes and stage boundaries, oldest first.
//! Events that tenants can subscribe to also write their webhook messages,
//! in the same transaction, so a message is never lost between the two.

use chrono::Utc;
use cutroom_entities::job_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::{queries, webhooks};

pub async fn record(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    kind: &str,
    stage: Option<&str>,
    message: Option<String>,
    data: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let webhook = webhooks::event_type(kind, message.as_deref());
    let event = job_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        job_id: Set(job_id),
        tenant_id: Set(tenant_id),
        kind: Set(kind.to_owned()),
        stage: Set(stage.map(str::to_owned)),
        message: Set(message),
        data: Set(data.clone()),
        created_at: Set(now),
    };
    let Some(event_type) = webhook else {
        event.insert(db).await?;
        return Ok(());
    };
    let tx = db.begin().await?;
    event.insert(&tx).await?;
    queries::webhooks::enqueue(
        &tx,
        tenant_id,
        job_id,
        event_type,
        stage,
        data.as_ref(),
        now,
    )
    .await?;
    tx.commit().await
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

/// The events written after `after` (an event id; ids are UUIDv7, so they
/// sort by time), or all of them, oldest first.
pub async fn list_after(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    after: Option<Uuid>,
) -> Result<Vec<job_event::Model>, DbErr> {
    let mut q = job_event::Entity::find()
        .filter(job_event::Column::TenantId.eq(tenant_id))
        .filter(job_event::Column::JobId.eq(job_id));
    if let Some(a) = after {
        q = q.filter(job_event::Column::Id.gt(a));
    }
    q.order_by_asc(job_event::Column::Id).all(db).await
}

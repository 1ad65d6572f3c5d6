//! A job's history: status changes and stage boundaries, oldest first.
//! Events that tenants can subscribe to also write their webhook messages,
//! in the same transaction, so a message is never lost between the two.

use chrono::Utc;
use cutroom_entities::job_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
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
    let event = Event {
        id: Uuid::now_v7(),
        at: Utc::now(),
    };
    record_as(db, event, tenant_id, job_id, kind, stage, message, data).await
}

/// An event's id and time, taken when it happened rather than when it is
/// written: events sort by id.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub id: Uuid,
    pub at: chrono::DateTime<Utc>,
}

impl Event {
    pub fn now() -> Self {
        Self {
            id: Uuid::now_v7(),
            at: Utc::now(),
        }
    }
}

/// [`record`] with an id and time taken earlier: a job's `queued` event is
/// stamped before the job is committed, so it sorts before anything a
/// worker records once it has the job.
#[allow(clippy::too_many_arguments)]
pub async fn record_as(
    db: &DatabaseConnection,
    event: Event,
    tenant_id: Uuid,
    job_id: Uuid,
    kind: &str,
    stage: Option<&str>,
    message: Option<String>,
    data: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    let now = event.at;
    let webhook = webhooks::event_type(kind, message.as_deref());
    let event = job_event::ActiveModel {
        id: Set(event.id),
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
    let tx = crate::db::begin_write(db).await?;
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

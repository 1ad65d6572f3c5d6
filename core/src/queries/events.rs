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

use crate::{Stage, events::JobEvent, queries};

/// Adds `event` to the job's history, with its webhook messages if it
/// sends any.
pub async fn record(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    event: JobEvent,
    data: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    record_as(db, Event::now(), tenant_id, job_id, event, data).await
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
pub async fn record_as(
    db: &DatabaseConnection,
    at: Event,
    tenant_id: Uuid,
    job_id: Uuid,
    event: JobEvent,
    data: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    let now = at.at;
    let stage = event.stage().map(Stage::name);
    let row = job_event::ActiveModel {
        id: Set(at.id),
        job_id: Set(job_id),
        tenant_id: Set(tenant_id),
        kind: Set(event.kind().to_owned()),
        stage: Set(stage.map(str::to_owned)),
        message: Set(event.message().map(str::to_owned)),
        data: Set(data.clone()),
        created_at: Set(now),
    };
    let Some(webhook) = event.webhook() else {
        row.insert(db).await?;
        return Ok(());
    };
    let tx = crate::db::begin_write(db).await?;
    row.insert(&tx).await?;
    queries::webhooks::enqueue(
        &tx,
        tenant_id,
        job_id,
        webhook.as_str(),
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

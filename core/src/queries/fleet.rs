//! Counts across every tenant, for the operator's metrics (`/metrics`):
//! jobs by state, the queue's depth, and the stages workers completed.
//! Nothing here is tenant-scoped, and nothing here is shown to tenants.

use chrono::Utc;
use cutroom_entities::{JobStatus, job, job_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// How many jobs there are in each status.
pub async fn jobs_by_status(db: &impl ConnectionTrait) -> Result<Vec<(JobStatus, i64)>, DbErr> {
    job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await
}

/// Queued jobs by where they wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Handed to the workers' queue, not yet taken by a worker.
    pub dispatched: u64,
    /// Waiting for one of their tenant's slots.
    pub waiting_for_slot: u64,
    /// Waiting for their retry time.
    pub retry_scheduled: u64,
}

pub async fn queue_depth(db: &impl ConnectionTrait) -> Result<QueueDepth, DbErr> {
    let now = Utc::now();
    let queued = || job::Entity::find().filter(job::Column::Status.eq(JobStatus::Queued));
    let dispatched = queued()
        .filter(job::Column::DispatchedAt.is_not_null())
        .count(db)
        .await?;
    let retry_scheduled = queued()
        .filter(job::Column::DispatchedAt.is_null())
        .filter(job::Column::RetryAt.gt(now))
        .count(db)
        .await?;
    let waiting = queued()
        .filter(job::Column::DispatchedAt.is_null())
        .count(db)
        .await?;
    Ok(QueueDepth {
        dispatched,
        waiting_for_slot: waiting.saturating_sub(retry_scheduled),
        retry_scheduled,
    })
}

/// One completed stage: which, and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct StageRun {
    pub stage: String,
    pub seconds: f64,
}

/// Stages completed after the event `after` (event ids are UUIDv7, so
/// they follow time), oldest first, from at most `limit` events; and the
/// id of the last event read, to continue from.
pub async fn stages_completed_after(
    db: &impl ConnectionTrait,
    after: Uuid,
    limit: u64,
) -> Result<(Vec<StageRun>, Option<Uuid>), DbErr> {
    let rows = job_event::Entity::find()
        .filter(job_event::Column::Kind.eq("stage_completed"))
        .filter(job_event::Column::Id.gt(after))
        .order_by_asc(job_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let last = rows.last().map(|e| e.id);
    let runs = rows
        .into_iter()
        .filter_map(|e| {
            let ms = e.data.as_ref()?.get("elapsed_ms")?.as_f64()?;
            Some(StageRun {
                stage: e.stage?,
                seconds: ms / 1000.0,
            })
        })
        .collect();
    Ok((runs, last))
}

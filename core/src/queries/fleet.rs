//! Counts across every tenant, for the operator's metrics (`/metrics`) and
//! fleet page (`GET /v1/admin/fleet`): jobs by state, the queue's depth
//! and age, each tenant's load, what ended and failed lately, running
//! batches, and the stages workers completed.
//! Nothing here is tenant-scoped, and nothing here is shown to tenants.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cutroom_entities::{BatchStatus, JobStatus, batch, job, job_event, tenant};
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

/// One tenant's jobs in the queue and running, for the fleet page.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantLoad {
    pub tenant_id: Uuid,
    pub name: String,
    pub queued: i64,
    pub running: i64,
    /// When its oldest queued job was created.
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

/// Every tenant with a job queued or running, most queued first.
pub async fn load_by_tenant(db: &impl ConnectionTrait) -> Result<Vec<TenantLoad>, DbErr> {
    let rows: Vec<(Uuid, JobStatus, i64, Option<DateTime<Utc>>)> = job::Entity::find()
        .select_only()
        .column(job::Column::TenantId)
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .column_as(job::Column::CreatedAt.min(), "oldest")
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .group_by(job::Column::TenantId)
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_tenant: BTreeMap<Uuid, TenantLoad> = BTreeMap::new();
    for (tenant_id, status, n, oldest) in rows {
        let load = by_tenant.entry(tenant_id).or_insert_with(|| TenantLoad {
            tenant_id,
            name: String::new(),
            queued: 0,
            running: 0,
            oldest_queued_at: None,
        });
        if status == JobStatus::Queued {
            load.queued = n;
            load.oldest_queued_at = oldest;
        } else {
            load.running = n;
        }
    }
    let names: Vec<(Uuid, String)> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::Name)
        .filter(tenant::Column::Id.is_in(by_tenant.keys().copied().collect::<Vec<_>>()))
        .into_tuple()
        .all(db)
        .await?;
    for (id, name) in names {
        if let Some(load) = by_tenant.get_mut(&id) {
            load.name = name;
        }
    }
    let mut loads: Vec<TenantLoad> = by_tenant.into_values().collect();
    loads.sort_by(|a, b| b.queued.cmp(&a.queued).then(b.running.cmp(&a.running)));
    Ok(loads)
}

/// Seconds from `since` to `now`, never negative (clocks of two
/// processes may disagree by a little).
pub fn age_seconds(since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - since).num_milliseconds() as f64 / 1000.0).max(0.0)
}

/// When the oldest job a worker could take now (handed to the queue, not
/// taken) was handed over: the queue's age, the autoscaler's signal.
pub async fn oldest_dispatched_at(
    db: &impl ConnectionTrait,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let oldest: Option<Option<DateTime<Utc>>> = job::Entity::find()
        .select_only()
        .column_as(job::Column::DispatchedAt.min(), "oldest")
        .filter(job::Column::Status.eq(JobStatus::Queued))
        .filter(job::Column::DispatchedAt.is_not_null())
        .into_tuple()
        .one(db)
        .await?;
    Ok(oldest.flatten())
}

/// Jobs that ended since `since`, by how they ended.
pub async fn ended_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(JobStatus, i64)>, DbErr> {
    job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::FinishedAt.gte(since))
        .filter(job::Column::Status.is_in([
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]))
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await
}

/// Jobs that failed since `since`, by their error code, most first.
pub async fn failures_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, DbErr> {
    let mut rows: Vec<(Option<String>, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::ErrorCode)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::FinishedAt.gte(since))
        .filter(job::Column::Status.eq(JobStatus::Failed))
        .group_by(job::Column::ErrorCode)
        .into_tuple()
        .all(db)
        .await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    Ok(rows
        .into_iter()
        .map(|(code, n)| (code.unwrap_or_else(|| "unknown".to_owned()), n))
        .collect())
}

/// The stage each of `jobs` is in.
pub async fn stages_of(
    db: &impl ConnectionTrait,
    jobs: Vec<Uuid>,
) -> Result<Vec<(Uuid, Option<String>)>, DbErr> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::Stage)
        .filter(job::Column::Id.is_in(jobs))
        .into_tuple()
        .all(db)
        .await
}

/// A batch whose recordings are running, and how far it got.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchProgress {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub unpacked_at: Option<DateTime<Utc>>,
    /// Its recordings, and how many of them ended.
    pub total: i64,
    pub ended: i64,
    pub failed: i64,
}

/// Every batch whose recordings are running, oldest first (at most
/// `limit`).
pub async fn running_batches(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<BatchProgress>, DbErr> {
    let batches = batch::Entity::find()
        .filter(batch::Column::Status.eq(BatchStatus::Running))
        .order_by_asc(batch::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?;
    if batches.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<(Option<Uuid>, JobStatus, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::BatchId)
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::BatchId.is_in(batches.iter().map(|b| b.id).collect::<Vec<_>>()))
        .group_by(job::Column::BatchId)
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(batches
        .into_iter()
        .map(|b| {
            let mine = counts.iter().filter(|(id, _, _)| *id == Some(b.id));
            let (mut total, mut ended, mut failed) = (0, 0, 0);
            for (_, status, n) in mine {
                total += n;
                if status.is_terminal() {
                    ended += n;
                }
                if *status == JobStatus::Failed {
                    failed += n;
                }
            }
            BatchProgress {
                id: b.id,
                tenant_id: b.tenant_id,
                name: b.name,
                unpacked_at: b.unpacked_at,
                total,
                ended,
                failed,
            }
        })
        .collect())
}

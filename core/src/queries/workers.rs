//! The worker registry: each worker process registers when it starts,
//! reports in every heartbeat, says which job it holds, and signs off
//! when it stops. Operators read it at `GET /v1/admin/workers`; it spans
//! every tenant, so nothing here is tenant-scoped.

use chrono::{DateTime, Utc};
use cutroom_entities::worker;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

/// Heartbeats a worker may miss before it is presumed dead: its row reads
/// `lost` and the queue hands its task to another worker.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Adds the worker (or starts it over under the same name).
pub async fn register(
    db: &impl ConnectionTrait,
    id: &str,
    host: &str,
    pid: u32,
    version: &str,
) -> Result<(), DbErr> {
    let now = Utc::now();
    worker::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    worker::Model {
        id: id.to_owned(),
        host: host.to_owned(),
        pid: i32::try_from(pid).unwrap_or(i32::MAX),
        version: version.to_owned(),
        started_at: now,
        last_seen_at: now,
        stopped_at: None,
        current_job_id: None,
        current_tenant_id: None,
        current_since: None,
        jobs_succeeded: 0,
        jobs_failed: 0,
    }
    .into_active_model()
    .insert(db)
    .await?;
    Ok(())
}

pub async fn heartbeat(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    worker::Entity::update_many()
        .col_expr(worker::Column::LastSeenAt, Expr::value(Utc::now()))
        .filter(worker::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The worker took `job_id`.
pub async fn took(
    db: &impl ConnectionTrait,
    id: &str,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<(), DbErr> {
    let now = Utc::now();
    worker::Entity::update_many()
        .col_expr(worker::Column::CurrentJobId, Expr::value(Some(job_id)))
        .col_expr(
            worker::Column::CurrentTenantId,
            Expr::value(Some(tenant_id)),
        )
        .col_expr(worker::Column::CurrentSince, Expr::value(Some(now)))
        .col_expr(worker::Column::LastSeenAt, Expr::value(now))
        .filter(worker::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The worker is done with `job_id`: `Some(true)` succeeded, `Some(false)`
/// failed or was cancelled, `None` handed back without an ending. Its
/// current job is cleared only if it is still that one: with prefetch the
/// worker may have taken the next job meanwhile.
pub async fn done(
    db: &impl ConnectionTrait,
    id: &str,
    job_id: Uuid,
    ended: Option<bool>,
) -> Result<(), DbErr> {
    let was_current = || Expr::col(worker::Column::CurrentJobId).eq(job_id);
    let cleared = |column: worker::Column, none: sea_orm::Value| {
        Expr::case(was_current(), Expr::value(none)).finally(Expr::col(column))
    };
    let mut q = worker::Entity::update_many()
        .col_expr(
            worker::Column::CurrentJobId,
            cleared(worker::Column::CurrentJobId, Option::<Uuid>::None.into()).into(),
        )
        .col_expr(
            worker::Column::CurrentTenantId,
            cleared(worker::Column::CurrentTenantId, Option::<Uuid>::None.into()).into(),
        )
        .col_expr(
            worker::Column::CurrentSince,
            cleared(
                worker::Column::CurrentSince,
                Option::<DateTime<Utc>>::None.into(),
            )
            .into(),
        )
        .col_expr(worker::Column::LastSeenAt, Expr::value(Utc::now()));
    match ended {
        Some(true) => {
            q = q.col_expr(
                worker::Column::JobsSucceeded,
                Expr::col(worker::Column::JobsSucceeded).add(1),
            );
        }
        Some(false) => {
            q = q.col_expr(
                worker::Column::JobsFailed,
                Expr::col(worker::Column::JobsFailed).add(1),
            );
        }
        None => {}
    }
    q.filter(worker::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// The worker stopped cleanly.
pub async fn stopped(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    worker::Entity::update_many()
        .col_expr(worker::Column::StoppedAt, Expr::value(Some(now)))
        .col_expr(
            worker::Column::CurrentJobId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            worker::Column::CurrentTenantId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(worker::Column::LastSeenAt, Expr::value(now))
        .filter(worker::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Workers seen since `since` or still not signed off, most recently
/// started first.
pub async fn list(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<worker::Model>, DbErr> {
    worker::Entity::find()
        .filter(worker::Column::LastSeenAt.gte(since))
        .order_by_desc(worker::Column::StartedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Forgets workers not seen since `before`. Returns how many.
pub async fn forget(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = worker::Entity::delete_many()
        .filter(worker::Column::LastSeenAt.lt(before))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// What a worker is doing, as its row tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Busy,
    Idle,
    /// Signed off cleanly.
    Stopped,
    /// Silent for three heartbeats: killed, frozen or cut off.
    Lost,
}

/// `w`'s state at `now`, for workers that report in every `heartbeat`.
pub fn state(w: &worker::Model, now: DateTime<Utc>, heartbeat: std::time::Duration) -> State {
    let lost_after = chrono::Duration::from_std(heartbeat * MISSED_HEARTBEATS)
        .unwrap_or(chrono::Duration::seconds(30));
    if w.stopped_at.is_some() {
        State::Stopped
    } else if w.last_seen_at < now - lost_after {
        State::Lost
    } else if w.current_job_id.is_some() {
        State::Busy
    } else {
        State::Idle
    }
}

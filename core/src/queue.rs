//! Creating a job: the row, the upload it consumes and the queue entry are
//! written in one transaction, so there is never a job without work or work
//! without a job.
//!
//! Fairness: a job is handed to the workers' queue only while its tenant
//! has fewer than `tenant_max_running` jobs there (queued for a worker or
//! running). The others wait with `dispatched_at` unset and are handed
//! over oldest first by [`dispatch`], which runs when one of the tenant's
//! jobs ends (and from the API's sweeper, in case a process died between
//! the two). So one tenant's backlog waits behind its own slots, never in
//! front of other tenants' jobs, and nothing is refused.

use apalis::prelude::TaskBuilder;
use chrono::{DateTime, SubsecRound, Utc};
use cutroom_entities::{JobStatus, UploadStatus, job, upload};
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::Expr,
};
use sea_query_sqlx::SqlxValues;
use uuid::Uuid;

use crate::{
    db::{Database, Pool},
    events::{JobEvent, StatusChange},
    jobs::{PIPELINE_QUEUE, PipelineTask},
    queries::events,
};

/// How many times the queue may hand the same task out. Jobs count their
/// own attempts (`attempts`, `CUTROOM_JOB_MAX_ATTEMPTS`, at most 10) and
/// end themselves after the last; this is only the queue's safety net,
/// high enough never to cut that short: a worker killed mid-job costs the
/// task two of the queue's attempts (taking it, and re-enqueueing it after
/// the missed heartbeats), and a task past this limit is never handed out
/// again.
pub const MAX_ATTEMPTS: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The upload was completed (or expired) by someone else meanwhile.
    #[error("the upload is no longer pending")]
    UploadNotPending,
    #[error("enqueueing the pipeline task: {0}")]
    Queue(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// SQL built by sea-query from entity definitions, with bound values only:
/// nothing user-controlled is spliced into the text.
fn statement(db: &Database, q: &impl QueryTrait) -> (String, SqlxValues) {
    let st = q.build(db.backend());
    (
        st.sql,
        SqlxValues(st.values.unwrap_or(sea_orm::sea_query::Values(Vec::new()))),
    )
}

/// Inserts `job`, marks `upload_id` completed (when the job consumes an
/// upload) and, if its tenant has a free slot, enqueues its pipeline task,
/// all or nothing.
pub async fn create_job(
    db: &Database,
    job: job::Model,
    upload_id: Option<Uuid>,
    max_running: u32,
) -> Result<job::Model, EnqueueError> {
    let insert = job::Entity::insert(job.clone().into_active_model());
    let (insert_sql, insert_values) = statement(db, &insert);
    let consume = upload_id.map(|id| {
        let q = upload::Entity::update_many()
            .col_expr(upload::Column::Status, Expr::value(UploadStatus::Completed))
            .col_expr(upload::Column::JobId, Expr::value(Some(job.id)))
            .filter(upload::Column::Id.eq(id))
            .filter(upload::Column::TenantId.eq(job.tenant_id))
            .filter(upload::Column::Status.eq(UploadStatus::Pending));
        statement(db, &q)
    });
    let mut job = job;
    let queued = events::Event::now();
    let slots = Slots::new(db, job.tenant_id, max_running);
    let sent = match &db.pool {
        Pool::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            if let Some((sql, values)) = consume
                && sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    != 1
            {
                return Err(EnqueueError::UploadNotPending);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(insert_sql), insert_values)
                .execute(&mut *tx)
                .await?;
            let sent = slots.fill_postgres(&mut tx).await?;
            tx.commit().await?;
            sent
        }
        Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            if let Some((sql, values)) = consume
                && sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    != 1
            {
                return Err(EnqueueError::UploadNotPending);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(insert_sql), insert_values)
                .execute(&mut *tx)
                .await?;
            let sent = slots.fill_sqlite(&mut tx).await?;
            tx.commit().await?;
            sent
        }
    };
    if sent.contains(&job.id) {
        job.dispatched_at = Some(Utc::now().trunc_subsecs(6));
    }
    // After the commit: the job is queued whether or not this is written,
    // and failing the request now would make the client submit it twice.
    // Stamped before the commit, so it sorts before the worker's events.
    if let Err(e) = events::record_as(
        &db.orm,
        queued,
        job.tenant_id,
        job.id,
        JobEvent::Status(StatusChange::Queued),
        None,
    )
    .await
    {
        tracing::warn!(job.id = %job.id, error = %e, "could not record the job's queued event");
    }
    Ok(job)
}

/// Hands a tenant's waiting jobs to the workers' queue, oldest first, while
/// it has free slots. Returns how many were handed over. Call it whenever
/// one of the tenant's jobs ends or is cancelled.
pub async fn dispatch(
    db: &Database,
    tenant_id: Uuid,
    max_running: u32,
) -> Result<usize, EnqueueError> {
    let slots = Slots::new(db, tenant_id, max_running);
    match &db.pool {
        Pool::Postgres(pool) => {
            // Most job ends have nothing to hand over. Looking costs a
            // shared lock, which job ends hold side by side; the exclusive
            // one (held through a commit, so through a WAL flush) is only
            // taken when a job waits. Measured with 64 workers draining
            // five tenants' jobs: 95 ms of every job went to waiting for
            // the exclusive lock (docs/benchmarks.md, "Queue at fleet size").
            // The shared lock waits for any creation that holds the
            // exclusive one, so a job it left waiting is seen here; one
            // created after this look counts this job's slot as free.
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
                .bind(slots.lock_key())
                .execute(&mut *tx)
                .await?;
            let (sql, values) = slots.any_waiting();
            let waiting: Option<i32> = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            if waiting.is_none() {
                return Ok(0);
            }
            let mut tx = pool.begin().await?;
            let n = slots.fill_postgres(&mut tx).await?.len();
            tx.commit().await?;
            Ok(n)
        }
        Pool::Sqlite(pool) => {
            // BEGIN IMMEDIATE: the count and the hand-over must not
            // interleave with another process's.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let n = slots.fill_sqlite(&mut tx).await?.len();
            tx.commit().await?;
            Ok(n)
        }
    }
}

/// [`dispatch`] for every tenant that has jobs waiting: the sweeper's
/// safety net for a process that died between ending a job and handing
/// over the next.
pub async fn dispatch_all(db: &Database, max_running: u32) -> Result<usize, EnqueueError> {
    let tenants: Vec<Uuid> = job::Entity::find()
        .select_only()
        .column(job::Column::TenantId)
        .distinct()
        .filter(job::Column::Status.eq(JobStatus::Queued))
        .filter(job::Column::DispatchedAt.is_null())
        .filter(ready(Utc::now()))
        .into_tuple()
        .all(&db.orm)
        .await
        .map_err(|e| EnqueueError::Queue(e.to_string()))?;
    let mut n = 0;
    for t in tenants {
        n += dispatch(db, t, max_running).await?;
    }
    Ok(n)
}

/// Not waiting for a retry time still ahead.
fn ready(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(job::Column::RetryAt.is_null())
        .add(job::Column::RetryAt.lte(now))
}

/// One tenant's slot accounting, as SQL run inside the caller's transaction.
struct Slots<'a> {
    db: &'a Database,
    tenant_id: Uuid,
    max_running: u32,
}

impl<'a> Slots<'a> {
    fn new(db: &'a Database, tenant_id: Uuid, max_running: u32) -> Self {
        Self {
            db,
            tenant_id,
            max_running: max_running.max(1),
        }
    }

    /// Jobs of the tenant in the workers' hands.
    fn in_flight(&self) -> (String, SqlxValues) {
        let q = job::Entity::find()
            .select_only()
            .column_as(job::Column::Id.count(), "n")
            .filter(job::Column::TenantId.eq(self.tenant_id))
            .filter(job::Column::DispatchedAt.is_not_null())
            .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]));
        statement(self.db, &q)
    }

    /// The tenant's advisory lock key: one decision per tenant at a time.
    fn lock_key(&self) -> i64 {
        i64::from_be_bytes(self.tenant_id.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// One row (`1`) if any job of the tenant waits for a slot now.
    fn any_waiting(&self) -> (String, SqlxValues) {
        let q = job::Entity::find()
            .select_only()
            .column_as(Expr::val(1), "one")
            .filter(job::Column::TenantId.eq(self.tenant_id))
            .filter(job::Column::Status.eq(JobStatus::Queued))
            .filter(job::Column::DispatchedAt.is_null())
            .filter(ready(Utc::now()))
            .limit(1);
        statement(self.db, &q)
    }

    /// Up to `n` of its waiting jobs, oldest first (ids are UUIDv7),
    /// leaving out those waiting to be retried later. Jobs that are no
    /// batch's children go first: a batch of thousands of files waits
    /// behind the tenant's own uploads and links, never in front of them.
    fn waiting(&self, n: u64) -> (String, SqlxValues) {
        let q = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::TenantId.eq(self.tenant_id))
            .filter(job::Column::Status.eq(JobStatus::Queued))
            .filter(job::Column::DispatchedAt.is_null())
            .filter(ready(Utc::now()))
            .order_by(
                sea_orm::sea_query::ExprTrait::is_not_null(Expr::col(job::Column::BatchId)),
                sea_orm::Order::Asc,
            )
            .order_by_asc(job::Column::Id)
            .limit(n);
        statement(self.db, &q)
    }

    fn mark(&self, ids: &[Uuid], at: DateTime<Utc>) -> (String, SqlxValues) {
        let q = job::Entity::update_many()
            .col_expr(job::Column::DispatchedAt, Expr::value(Some(at)))
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .filter(job::Column::TenantId.eq(self.tenant_id));
        statement(self.db, &q)
    }

    fn tasks(&self, ids: &[Uuid], at: DateTime<Utc>) -> Vec<apalis_postgres::PgTask> {
        // apalis-postgres's insert trigger notifies the workers only when
        // `run_at <= now()`, and `now()` is when the inserting transaction
        // began, while `push_tasks` stamps `run_at` from the clock in whole
        // seconds once the transaction is under way: a task stamped in the
        // second after its transaction began sent no notification and
        // waited for a poll (the fleet test caught one in 150 under load).
        // Stamped a minute early, every task is due at once and notifies;
        // the order among tasks is unchanged.
        let due = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        ids.iter()
            .map(|id| {
                let payload = serde_json::to_vec(&PipelineTask {
                    tenant_id: self.tenant_id,
                    job_id: *id,
                    dispatched_at: Some(at),
                })
                .expect("the payload is plain data");
                TaskBuilder::new(payload)
                    .max_attempts(MAX_ATTEMPTS)
                    .run_at_time(due)
                    .build()
            })
            .collect()
    }

    fn free(&self, in_flight: i64) -> u64 {
        u64::try_from(i64::from(self.max_running) - in_flight).unwrap_or(0)
    }

    async fn fill_postgres(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<Vec<Uuid>, EnqueueError> {
        // One decision per tenant at a time, across every process.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.lock_key())
            .execute(&mut **tx)
            .await?;
        fill!(self, tx, |tasks| apalis_postgres::queries::push_tasks(
            &mut **tx,
            PIPELINE_QUEUE,
            tasks
        ))
    }

    /// SQLite runs one write transaction at a time, and the caller's has
    /// written before this runs, so no lock is needed.
    async fn fill_sqlite(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    ) -> Result<Vec<Uuid>, EnqueueError> {
        fill!(self, tx, |tasks| apalis_sqlite::queries::push_tasks(
            &mut **tx,
            PIPELINE_QUEUE,
            &tasks
        ))
    }
}

/// The hand-over itself, the same SQL on both databases: count the
/// tenant's jobs with the workers, take the oldest waiting ones that fit,
/// mark them and push their tasks. A macro because the two sqlx
/// transaction types share no executor trait the queries could be written
/// against without a wall of bounds.
macro_rules! fill {
    ($slots:ident, $tx:ident, |$tasks:ident| $push:expr) => {{
        let (sql, values) = $slots.in_flight();
        let busy: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_one(&mut **$tx)
            .await?;
        let free = $slots.free(busy);
        if free == 0 {
            return Ok(Vec::new());
        }
        let (sql, values) = $slots.waiting(free);
        let ids: Vec<Uuid> = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_all(&mut **$tx)
            .await?;
        if ids.is_empty() {
            return Ok(ids);
        }
        // Microseconds: what both databases store, so the task's copy
        // compares equal to the row's.
        let at = Utc::now().trunc_subsecs(6);
        let (sql, values) = $slots.mark(&ids, at);
        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
            .execute(&mut **$tx)
            .await?;
        let $tasks = $slots.tasks(&ids, at);
        $push
            .await
            .map_err(|e| EnqueueError::Queue(e.to_string()))?;
        Ok(ids)
    }};
}
use fill;

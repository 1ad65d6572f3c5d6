//! Jobs: what the API reads and changes, and the worker's state transitions.

use chrono::{SubsecRound, Utc};
use cutroom_entities::{JobStatus, job};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::ErrorCode;

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<job::Model>, DbErr> {
    job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Which jobs [`list`] returns.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub status: Option<JobStatus>,
    /// Only the re-renders of this job.
    pub parent_id: Option<Uuid>,
    /// Only the children of this batch. Without it (and without
    /// `metadata`), batch children are left out: a batch is listed by its
    /// unpack job, not by its thousands of files.
    pub batch_id: Option<Uuid>,
    /// Only jobs whose metadata row has each `(field, value)`: a string
    /// field equal to the value, a number or a boolean written as it.
    pub metadata: Vec<(String, String)>,
}

/// A metadata field name a filter may use: letters, digits, `_`, `-`, up
/// to 128 bytes (it becomes a JSON path, bound as a value, never SQL).
pub fn metadata_field_ok(field: &str) -> bool {
    !field.is_empty()
        && field.len() <= 128
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `metadata.<field> = value` in the database's own JSON functions, both
/// bound as values (sea-query numbers PostgreSQL's placeholders `$1`,
/// where `?` is a JSON operator). A number or boolean compares as its JSON text, so
/// `duration=12` matches `12` and `flag=true` matches `true` on both.
pub(crate) fn metadata_equals(
    backend: sea_orm::DatabaseBackend,
    field: &str,
    value: &str,
) -> sea_orm::sea_query::SimpleExpr {
    match backend {
        sea_orm::DatabaseBackend::Sqlite => {
            let path = format!("$.\"{field}\"");
            Expr::cust_with_values(
                "(CASE json_type(metadata, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 ELSE CAST(json_extract(metadata, ?) AS TEXT) END) = ?",
                [path.clone(), path, value.to_owned()],
            )
        }
        _ => Expr::cust_with_values(
            "(metadata ->> CAST($1 AS TEXT)) = CAST($2 AS TEXT)",
            [field.to_owned(), value.to_owned()],
        ),
    }
}

/// Newest first. `before` is the id of the last job of the previous page
/// (ids are UUIDv7, so they sort by creation time).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    filter: ListFilter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<job::Model>, DbErr> {
    let mut q = job::Entity::find().filter(job::Column::TenantId.eq(tenant_id));
    if let Some(s) = filter.status {
        q = q.filter(job::Column::Status.eq(s));
    }
    if let Some(p) = filter.parent_id {
        q = q.filter(job::Column::ParentId.eq(p));
    }
    match filter.batch_id {
        Some(b) => q = q.filter(job::Column::BatchId.eq(b)),
        None if filter.metadata.is_empty() => q = q.filter(job::Column::BatchId.is_null()),
        None => {}
    }
    let backend = db.get_database_backend();
    for (field, value) in &filter.metadata {
        q = q.filter(metadata_equals(backend, field, value));
    }
    if let Some(b) = before {
        q = q.filter(job::Column::Id.lt(b));
    }
    q.order_by_desc(job::Column::Id).limit(limit).all(db).await
}

/// The tenant's jobs changed at or after `since`, oldest change first: what
/// the jobs list's live stream sends.
pub async fn changed_since(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    since: chrono::DateTime<Utc>,
    limit: u64,
) -> Result<Vec<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::UpdatedAt.gte(since))
        .order_by_asc(job::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
}

/// A queued job is cancelled at once; a running one is asked to stop and its
/// worker ends it at the next check. Terminal jobs are left as they are.
pub async fn request_cancel(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<job::Model>, DbErr> {
    let now = Utc::now();
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Cancelled))
        .col_expr(
            job::Column::ErrorCode,
            Expr::value(Some(ErrorCode::Cancelled.as_str())),
        )
        .col_expr(
            job::Column::ErrorMessage,
            Expr::value(Some("cancelled before it started")),
        )
        .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::CancelRequested, Expr::value(true))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.eq(JobStatus::Queued))
        .exec(db)
        .await?;
    job::Entity::update_many()
        .col_expr(job::Column::CancelRequested, Expr::value(true))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .exec(db)
        .await?;
    get(db, tenant_id, id).await
}

pub async fn delete(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = job::Entity::delete_many()
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// What [`claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// Nothing to do: deleted, already terminal, taken by another worker,
    /// or the task is an old one of a job retried since (`dispatched_at`
    /// is the task's copy).
    Skip,
    /// Run it; `attempts` is already counted. `lost` is set when the job
    /// was found `running`: the worker of attempt `lost` died under it.
    Run { job: job::Model, lost: Option<i32> },
    /// Found `running` after its last allowed attempt: workers keep dying
    /// under it (a source that crashes them, say). The caller fails it.
    Exhausted(job::Model),
}

/// Worker side: takes a job for running, counting the attempt. The update
/// is conditional on the row being as read, so of two workers handed the
/// same task only one runs it.
pub async fn claim(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    dispatched_at: Option<chrono::DateTime<Utc>>,
    max_attempts: u32,
) -> Result<Claim, DbErr> {
    let Some(job) = get(db, tenant_id, id).await? else {
        return Ok(Claim::Skip);
    };
    if job.status.is_terminal() {
        return Ok(Claim::Skip);
    }
    if let Some(task) = dispatched_at
        && job.dispatched_at.map(|d| d.trunc_subsecs(6)) != Some(task.trunc_subsecs(6))
    {
        return Ok(Claim::Skip);
    }
    let lost = (job.status == JobStatus::Running).then_some(job.attempts);
    if lost.is_some() && i64::from(job.attempts) >= i64::from(max_attempts) {
        return Ok(Claim::Exhausted(job));
    }
    let now = Utc::now();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Running))
        .col_expr(job::Column::Stage, Expr::value(Option::<String>::None))
        .col_expr(job::Column::Progress, Expr::value(0))
        .col_expr(job::Column::Attempts, Expr::value(job.attempts + 1))
        .col_expr(
            job::Column::RetryAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(job::Column::StartedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.eq(job.status))
        .filter(job::Column::Attempts.eq(job.attempts))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(Claim::Skip);
    }
    let job = get(db, tenant_id, id).await?;
    Ok(job.map_or(Claim::Skip, |job| Claim::Run { job, lost }))
}

/// After a failure that may pass: the job waits, queued but not handed
/// to the workers, until `retry_at`; the API's dispatcher hands it over
/// then (oldest first, within its tenant's slots). `false` when the job
/// is no longer this attempt's (cancelled, deleted or taken over).
pub async fn retry_later(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    attempt: i32,
    retry_at: chrono::DateTime<Utc>,
) -> Result<bool, DbErr> {
    back_in_line(db, tenant_id, id, attempt, Some(retry_at), false).await
}

/// The tenant's budget is spent and it chose to wait: the job waits,
/// queued, until `at`, and this attempt does not count (nothing failed).
pub async fn wait_until(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    attempt: i32,
    at: chrono::DateTime<Utc>,
) -> Result<bool, DbErr> {
    back_in_line(db, tenant_id, id, attempt, Some(at), true).await
}

/// A worker stopping (SIGTERM) gives its job back: queued at once, and
/// the interrupted attempt does not count.
pub async fn hand_back(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    attempt: i32,
) -> Result<bool, DbErr> {
    back_in_line(db, tenant_id, id, attempt, None, true).await
}

async fn back_in_line(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    attempt: i32,
    retry_at: Option<chrono::DateTime<Utc>>,
    uncount: bool,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let mut q = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::Stage, Expr::value(Option::<String>::None))
        .col_expr(job::Column::Progress, Expr::value(0))
        .col_expr(job::Column::RetryAt, Expr::value(retry_at))
        .col_expr(
            job::Column::StartedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(
            job::Column::DispatchedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    if uncount {
        q = q.col_expr(job::Column::Attempts, Expr::value(attempt - 1));
    }
    let res = q
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.eq(JobStatus::Running))
        .filter(job::Column::Attempts.eq(attempt))
        .filter(job::Column::CancelRequested.eq(false))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn set_progress(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    stage: &str,
    progress: i32,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Stage, Expr::value(Some(stage)))
        .col_expr(job::Column::Progress, Expr::value(progress.clamp(0, 100)))
        .col_expr(job::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_media(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    media: serde_json::Value,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Media, Expr::value(Some(media)))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes an ended job's original upload `key` for deletion: forgets it,
/// so the job can no longer be retried, unless an admin retry got there
/// first (the job is no longer ended). False: leave the original alone.
/// Whoever deletes it calls this first, so a retry and a deletion never
/// both win.
pub async fn take_source_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    key: &str,
) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::SourceKey, Expr::value(Option::<String>::None))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::SourceKey.eq(key))
        .filter(job::Column::Status.is_in(JobStatus::TERMINAL))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives a job back the key [`take_source_key`] took, when deleting the
/// original failed: the sweeper tries again later.
pub async fn restore_source_key(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    key: &str,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::SourceKey, Expr::value(key))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::SourceKey.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn cancel_requested(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    // A deleted job counts as cancelled: there is no one left to deliver to.
    Ok(get(db, tenant_id, id)
        .await?
        .is_none_or(|j| j.cancel_requested))
}

/// Ends a job. `error` is `None` for success. `attempt` (the claimed
/// attempt) makes it conditional: `false` when another worker has taken
/// the job over since, which then ends it instead.
pub async fn finish(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    attempt: Option<i32>,
    status: JobStatus,
    error: Option<(ErrorCode, String)>,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let (code, message) = error
        .map(|(c, m)| (Some(c.as_str().to_owned()), Some(m)))
        .unwrap_or_default();
    let progress = if status == JobStatus::Succeeded {
        100
    } else {
        -1
    };
    let mut q = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status))
        .col_expr(job::Column::ErrorCode, Expr::value(code))
        .col_expr(job::Column::ErrorMessage, Expr::value(message))
        .col_expr(job::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    if progress >= 0 {
        q = q.col_expr(job::Column::Progress, Expr::value(progress));
    }
    if let Some(attempt) = attempt {
        q = q.filter(job::Column::Attempts.eq(attempt));
    }
    let res = q
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.is_not_in(JobStatus::TERMINAL))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Puts a failed or cancelled job back in line for another run: queued,
/// not yet handed to the workers (the caller dispatches it), its error and
/// progress cleared. `None` when it was not failed or cancelled.
pub async fn requeue(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<job::Model>, DbErr> {
    let now = Utc::now();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Queued))
        .col_expr(job::Column::Stage, Expr::value(Option::<String>::None))
        .col_expr(job::Column::Progress, Expr::value(0))
        .col_expr(job::Column::ErrorCode, Expr::value(Option::<String>::None))
        .col_expr(
            job::Column::ErrorMessage,
            Expr::value(Option::<String>::None),
        )
        .col_expr(job::Column::CancelRequested, Expr::value(false))
        .col_expr(job::Column::Attempts, Expr::value(0))
        .col_expr(
            job::Column::RetryAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(
            job::Column::StartedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(
            job::Column::FinishedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(
            job::Column::DispatchedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::Status.is_in([JobStatus::Failed, JobStatus::Cancelled]))
        // An upload's job (or a batch child) only while its original is
        // still there (not taken for deletion: see `take_source_key`).
        .filter(
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(job::Column::UploadId.is_null())
                        .add(job::Column::BatchId.is_null()),
                )
                .add(job::Column::SourceKey.is_not_null()),
        )
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    get(db, tenant_id, id).await
}

/// The re-renders of a job, oldest first.
pub async fn children(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    parent_id: Uuid,
) -> Result<Vec<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::ParentId.eq(parent_id))
        .order_by_asc(job::Column::Id)
        .all(db)
        .await
}

/// Records where the job's source is kept, and until when.
pub async fn set_kept_source(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    key: &str,
    until: chrono::DateTime<Utc>,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(
            job::Column::KeptSourceKey,
            Expr::value(Some(key.to_owned())),
        )
        .col_expr(job::Column::KeptSourceUntil, Expr::value(Some(until)))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Jobs whose kept source should have been deleted by `now`, any tenant.
pub async fn expired_kept_sources(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<Utc>,
    limit: u64,
) -> Result<Vec<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::KeptSourceKey.is_not_null())
        .filter(job::Column::KeptSourceUntil.lte(now))
        .order_by_asc(job::Column::KeptSourceUntil)
        .limit(limit)
        .all(db)
        .await
}

/// Forgets the kept source `key` of a job; `false` when another caller
/// already did. The until time stays, so the API can tell a source that
/// expired from one never kept.
pub async fn clear_kept_source(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    key: &str,
) -> Result<bool, DbErr> {
    let res = job::Entity::update_many()
        .col_expr(
            job::Column::KeptSourceKey,
            Expr::value(Option::<String>::None),
        )
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::KeptSourceKey.eq(key))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Ended jobs whose uploaded original is still stored and due for
/// deletion: at once after success, cancellation or a permanent failure
/// (the worker deletes it itself unless that failed), after `retention`
/// when the job failed for a passing reason, so an admin can retry it.
pub async fn spent_originals(
    db: &impl ConnectionTrait,
    now: chrono::DateTime<Utc>,
    retention: chrono::Duration,
    limit: u64,
) -> Result<Vec<job::Model>, DbErr> {
    use sea_orm::Condition;
    let transient: Vec<&str> = ErrorCode::ALL
        .into_iter()
        .filter(|c| c.is_transient())
        .map(ErrorCode::as_str)
        .collect();
    job::Entity::find()
        .filter(job::Column::SourceKey.is_not_null())
        .filter(job::Column::Status.is_in(JobStatus::TERMINAL))
        .filter(
            Condition::any()
                .add(job::Column::FinishedAt.is_null())
                .add(job::Column::FinishedAt.lte(now - retention))
                .add(job::Column::Status.ne(JobStatus::Failed))
                .add(job::Column::ErrorCode.is_null())
                .add(job::Column::ErrorCode.is_not_in(transient)),
        )
        .order_by_asc(job::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

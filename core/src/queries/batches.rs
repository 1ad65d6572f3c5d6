//! Batches and their children: the API's reads and the state changes the
//! unpack job and the children's ends make.

use std::collections::BTreeMap;

use chrono::Utc;
use cutroom_entities::{BatchStatus, JobStatus, batch, job};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::batches::{Counts, Refused, Unmatched};

pub async fn insert(db: &impl ConnectionTrait, row: batch::Model) -> Result<batch::Model, DbErr> {
    row.into_active_model().insert(db).await
}

pub async fn get(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<batch::Model>, DbErr> {
    batch::Entity::find_by_id(id)
        .filter(batch::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Newest first; `before` is the last id of the previous page.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<batch::Model>, DbErr> {
    let mut q = batch::Entity::find().filter(batch::Column::TenantId.eq(tenant_id));
    if let Some(b) = before {
        q = q.filter(batch::Column::Id.lt(b));
    }
    q.order_by_desc(batch::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The batch's children by status.
pub async fn counts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<Counts, DbErr> {
    let rows: Vec<(JobStatus, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id))
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut c = Counts::default();
    for (status, n) in rows {
        let n = u64::try_from(n).unwrap_or_default();
        match status {
            JobStatus::Queued => c.queued = n,
            JobStatus::Running => c.running = n,
            JobStatus::Succeeded => c.succeeded = n,
            JobStatus::Failed => c.failed = n,
            JobStatus::Cancelled => c.cancelled = n,
        }
    }
    Ok(c)
}

/// The child made from the archive entry at `entry_path`, if one was.
pub async fn child(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
    entry_path: &str,
) -> Result<Option<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id))
        .filter(job::Column::EntryPath.eq(entry_path))
        .one(db)
        .await
}

/// The archive paths the batch already has children for: what an unpack
/// that runs again skips.
pub async fn entry_paths(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<std::collections::HashSet<String>, DbErr> {
    let paths: Vec<Option<String>> = job::Entity::find()
        .select_only()
        .column(job::Column::EntryPath)
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(paths.into_iter().flatten().collect())
}

/// The batch's children, in archive order (ids are made in it), after
/// `after` (the last id of the previous page).
pub async fn children(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
    status: Option<JobStatus>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<job::Model>, DbErr> {
    let mut q = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id));
    if let Some(s) = status {
        q = q.filter(job::Column::Status.eq(s));
    }
    if let Some(a) = after {
        q = q.filter(job::Column::Id.gt(a));
    }
    q.order_by_asc(job::Column::Id).limit(limit).all(db).await
}

/// `uploading` -> `unpacking`, with the job that unpacks it. `false` when
/// the batch was started (or cancelled) meanwhile.
pub async fn start(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    unpack_job_id: Uuid,
) -> Result<bool, DbErr> {
    let res = batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(BatchStatus::Unpacking))
        .col_expr(batch::Column::UnpackJobId, Expr::value(Some(unpack_job_id)))
        .col_expr(batch::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::TenantId.eq(tenant_id))
        .filter(batch::Column::Status.eq(BatchStatus::Uploading))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// `unpacking` -> `uploading` again, when the unpack job could not be
/// created (the archive is not uploaded yet): the batch may be started
/// again.
pub async fn unstart(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<(), DbErr> {
    batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(BatchStatus::Uploading))
        .col_expr(
            batch::Column::UnpackJobId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(batch::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::TenantId.eq(tenant_id))
        .filter(batch::Column::Status.eq(BatchStatus::Unpacking))
        .exec(db)
        .await?;
    Ok(())
}

/// The archive is checked and every child created: `unpacking` ->
/// `running`, with what was refused and left unmatched.
pub async fn unpacked(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    entries: usize,
    refused: &[Refused],
    unmatched: &Unmatched,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(BatchStatus::Running))
        .col_expr(
            batch::Column::EntriesTotal,
            Expr::value(Some(i32::try_from(entries).unwrap_or(i32::MAX))),
        )
        .col_expr(
            batch::Column::Refused,
            Expr::value(serde_json::to_value(refused).expect("plain data")),
        )
        .col_expr(
            batch::Column::Unmatched,
            Expr::value(serde_json::to_value(unmatched).expect("plain data")),
        )
        .col_expr(batch::Column::UnpackedAt, Expr::value(Some(now)))
        .col_expr(batch::Column::UpdatedAt, Expr::value(now))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::TenantId.eq(tenant_id))
        .filter(batch::Column::Status.eq(BatchStatus::Unpacking))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Ends a batch that is not over yet: `failed` with the unpack job's code
/// (the archive could not be used), `cancelled`, or `completed`. `false`
/// when it had ended already.
pub async fn end(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    status: BatchStatus,
    error: Option<(&str, &str)>,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let mut q = batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(status))
        .col_expr(batch::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(batch::Column::UpdatedAt, Expr::value(now))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::TenantId.eq(tenant_id))
        .filter(batch::Column::Status.is_not_in([
            BatchStatus::Completed,
            BatchStatus::Cancelled,
            BatchStatus::Failed,
        ]));
    if status == BatchStatus::Completed {
        // Only once unpacked, and only when no child is left.
        q = q.filter(batch::Column::Status.eq(BatchStatus::Running));
    }
    if let Some((code, message)) = error {
        q = q
            .col_expr(batch::Column::ErrorCode, Expr::value(Some(code)))
            .col_expr(batch::Column::ErrorMessage, Expr::value(Some(message)));
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// A running batch whose children have all ended becomes `completed`.
/// `true` for the one call that completed it (which then tells the
/// tenant). Called after every child ends, and by the sweeper.
pub async fn complete_if_done(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, DbErr> {
    let left = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(id))
        .filter(job::Column::Status.is_not_in(JobStatus::TERMINAL))
        .count(db)
        .await?;
    if left > 0 {
        return Ok(false);
    }
    end(db, tenant_id, id, BatchStatus::Completed, None).await
}

/// Running batches with no child left: what [`complete_if_done`] missed
/// when a process died between a child's end and its check.
pub async fn running(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<batch::Model>, DbErr> {
    batch::Entity::find()
        .filter(batch::Column::Status.eq(BatchStatus::Running))
        .order_by_asc(batch::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Batches still `uploading` whose archive's upload expired unused: the
/// sweeper fails them (`upload_missing`), so none waits forever.
pub async fn abandoned(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<batch::Model>, DbErr> {
    use cutroom_entities::{UploadStatus, upload};
    use sea_orm::QueryTrait;
    let expired = upload::Entity::find()
        .select_only()
        .column(upload::Column::Id)
        .filter(upload::Column::Status.eq(UploadStatus::Expired))
        .into_query();
    batch::Entity::find()
        .filter(batch::Column::Status.eq(BatchStatus::Uploading))
        .filter(batch::Column::UploadId.in_subquery(expired))
        .order_by_asc(batch::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The children not ended yet, to cancel with their batch.
pub async fn unfinished_children(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(
            sea_orm::Condition::any()
                .add(job::Column::BatchId.eq(batch_id))
                .add(job::Column::UnpacksBatchId.eq(batch_id)),
        )
        .filter(job::Column::Status.is_not_in(JobStatus::TERMINAL))
        .into_tuple()
        .all(db)
        .await
}

/// The failed children whose recording is still stored (a passing
/// failure keeps it a day), which a retry can run again.
pub async fn retryable_children(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<Vec<Uuid>, DbErr> {
    job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id))
        .filter(job::Column::Status.eq(JobStatus::Failed))
        .filter(job::Column::SourceKey.is_not_null())
        .into_tuple()
        .all(db)
        .await
}

/// A batch that ended `completed` goes back to `running` for a retry of
/// its failed children.
pub async fn reopen(db: &impl ConnectionTrait, tenant_id: Uuid, id: Uuid) -> Result<bool, DbErr> {
    let res = batch::Entity::update_many()
        .col_expr(batch::Column::Status, Expr::value(BatchStatus::Running))
        .col_expr(
            batch::Column::FinishedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(batch::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(batch::Column::Id.eq(id))
        .filter(batch::Column::TenantId.eq(tenant_id))
        .filter(batch::Column::Status.is_in([BatchStatus::Completed, BatchStatus::Running]))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Failure codes of the batch's failed children, with how many each.
pub async fn failure_codes(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let rows: Vec<(Option<String>, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::ErrorCode)
        .column_as(job::Column::Id.count(), "n")
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::BatchId.eq(batch_id))
        .filter(job::Column::Status.eq(JobStatus::Failed))
        .group_by(job::Column::ErrorCode)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(c, n)| {
            (
                c.unwrap_or_else(|| "unknown".into()),
                u64::try_from(n).unwrap_or_default(),
            )
        })
        .collect())
}

/// What a batch's end tells: `batch_completed` on its unpack job (a
/// webhook too), with the children's counts. `true` when this call
/// completed the batch.
pub async fn complete(
    db: &sea_orm::DatabaseConnection,
    tenant_id: Uuid,
    batch_id: Uuid,
) -> Result<bool, DbErr> {
    if !complete_if_done(db, tenant_id, batch_id).await? {
        return Ok(false);
    }
    let counts = counts(db, tenant_id, batch_id).await?;
    if let Some(b) = get(db, tenant_id, batch_id).await?
        && let Some(unpack) = b.unpack_job_id
    {
        crate::queries::events::record(
            db,
            tenant_id,
            unpack,
            crate::events::JobEvent::BatchCompleted,
            Some(serde_json::json!({ "batch_id": batch_id, "jobs": counts })),
        )
        .await?;
    }
    tracing::info!(batch.id = %batch_id, succeeded = counts.succeeded, failed = counts.failed, "batch completed");
    Ok(true)
}

/// After a job ended for good: an unpack job that failed or was cancelled
/// ends its batch the same way (no child of a failed unpack runs on: its
/// archive was unusable); the last child of a batch to end completes it.
pub async fn job_ended(
    db: &sea_orm::DatabaseConnection,
    job: &job::Model,
    status: JobStatus,
    error: Option<(&str, &str)>,
) -> Result<(), DbErr> {
    if let Some(b) = job.unpacks_batch_id {
        match status {
            JobStatus::Failed => {
                end(db, job.tenant_id, b, BatchStatus::Failed, error).await?;
            }
            JobStatus::Cancelled => {
                end(db, job.tenant_id, b, BatchStatus::Cancelled, None).await?;
            }
            _ => {}
        }
    }
    if let Some(b) = job.batch_id {
        complete(db, job.tenant_id, b).await?;
    }
    Ok(())
}

/// What a page of a batch's results is made of: each child with its
/// transcript (language, duration, text), its moderation flags and the
/// storage key of its Opus copy. Four queries a page, whatever its size.
pub struct ResultParts {
    pub job: job::Model,
    pub language: Option<String>,
    pub duration: Option<f64>,
    pub text: Option<String>,
    pub flags: Vec<cutroom_entities::moderation_flag::Model>,
    pub opus_key: Option<String>,
}

/// Up to `limit` children after `after`, in archive order, with their
/// parts.
pub async fn result_parts(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    batch_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<ResultParts>, DbErr> {
    use cutroom_entities::{artifact, moderation_flag, transcript, transcript_segment};
    let jobs = children(db, tenant_id, batch_id, None, after, limit).await?;
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let transcripts: std::collections::HashMap<Uuid, transcript::Model> =
        transcript::Entity::find()
            .filter(transcript::Column::TenantId.eq(tenant_id))
            .filter(transcript::Column::JobId.is_in(ids.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.job_id, t))
            .collect();
    let mut texts: std::collections::HashMap<Uuid, String> = std::collections::HashMap::new();
    for seg in transcript_segment::Entity::find()
        .filter(transcript_segment::Column::TenantId.eq(tenant_id))
        .filter(transcript_segment::Column::JobId.is_in(ids.clone()))
        .order_by_asc(transcript_segment::Column::JobId)
        .order_by_asc(transcript_segment::Column::Idx)
        .all(db)
        .await?
    {
        let text = texts.entry(seg.job_id).or_default();
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(seg.text.trim());
    }
    let mut flags: std::collections::HashMap<Uuid, Vec<moderation_flag::Model>> =
        std::collections::HashMap::new();
    for f in moderation_flag::Entity::find()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::JobId.is_in(ids.clone()))
        .order_by_asc(moderation_flag::Column::Id)
        .all(db)
        .await?
    {
        flags.entry(f.job_id).or_default().push(f);
    }
    let opus: std::collections::HashMap<Uuid, String> = artifact::Entity::find()
        .filter(artifact::Column::TenantId.eq(tenant_id))
        .filter(artifact::Column::JobId.is_in(ids))
        .filter(artifact::Column::Name.eq(crate::batches::OPUS_OUTPUT))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.job_id, a.object_key))
        .collect();
    Ok(jobs
        .into_iter()
        .map(|job| {
            let t = transcripts.get(&job.id);
            ResultParts {
                language: t.and_then(|t| t.language.clone()),
                duration: t.map(|t| t.duration),
                text: t.map(|_| texts.remove(&job.id).unwrap_or_default()),
                flags: flags.remove(&job.id).unwrap_or_default(),
                opus_key: opus.get(&job.id).cloned(),
                job,
            }
        })
        .collect())
}

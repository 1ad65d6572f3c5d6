//! A job's rendered clips, and what holds each back from download.

use cutroom_entities::{clip, job, moderation_flag};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::review::{APPROVED, KIND_HIGHLIGHT};

/// Stores a job's clips, replacing any earlier ones (a re-run of the job).
pub async fn replace_for_job(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    rows: Vec<clip::Model>,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    clip::Entity::delete_many()
        .filter(clip::Column::TenantId.eq(tenant_id))
        .filter(clip::Column::JobId.eq(job_id))
        .exec(&txn)
        .await?;
    super::insert_batched::<_, clip::ActiveModel>(&txn, rows, 50).await?;
    txn.commit().await
}

/// A job's clips in order, each with the flags that hold it back: flags on
/// speech inside its range, or on the title or hook of the highlight it was
/// cut from, that no reviewer has approved. A re-render's clips are held by
/// the flags of the job it renders from.
pub async fn with_holds(
    db: &impl ConnectionTrait,
    job: &job::Model,
) -> Result<Vec<(clip::Model, Vec<moderation_flag::Model>)>, DbErr> {
    let clips = clip::Entity::find()
        .filter(clip::Column::TenantId.eq(job.tenant_id))
        .filter(clip::Column::JobId.eq(job.id))
        .order_by_asc(clip::Column::Idx)
        .all(db)
        .await?;
    let flags = unapproved_flags(db, job.tenant_id, flags_of(job)).await?;
    Ok(clips
        .into_iter()
        .map(|c| {
            let holding = flags
                .iter()
                .filter(|f| holds(f, c.start, c.end, c.highlight_rank))
                .cloned()
                .collect();
            (c, holding)
        })
        .collect())
}

/// The job whose moderation flags hold `job`'s clips: the job itself, or
/// for a re-render the job it renders from.
pub fn flags_of(job: &job::Model) -> Uuid {
    job.parent_id.unwrap_or(job.id)
}

/// A job's flags no reviewer has approved: open or rejected.
pub async fn unapproved_flags(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
) -> Result<Vec<moderation_flag::Model>, DbErr> {
    moderation_flag::Entity::find()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::JobId.eq(job_id))
        .filter(moderation_flag::Column::Status.ne(APPROVED))
        .order_by_asc(moderation_flag::Column::Start)
        .all(db)
        .await
}

/// Whether an unapproved `flag` holds back the range `start..end`, cut
/// from the highlight of rank `highlight` if any.
pub fn holds(flag: &moderation_flag::Model, start: f64, end: f64, highlight: Option<i32>) -> bool {
    if flag.kind == KIND_HIGHLIGHT {
        Some(flag.segment) == highlight
    } else {
        flag.start < end && start < flag.end
    }
}

//! Flags on corrected transcript text. A correction changes what a
//! re-render's captions say, not what was said: flags on the speech
//! (`segment`) keep holding every clip of their span, whatever the text
//! says now, and each corrected text is judged on its own (`edit`).

use std::collections::HashSet;

use cutroom_entities::{FlagKind, JobStatus, clip, job, moderation_flag};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::queries::clips::edit_flags;

/// A corrected segment as a re-render found it: its text now (trimmed),
/// and the flag the job's policy raises on that text, if any.
#[derive(Clone, Debug)]
pub struct CheckedEdit {
    pub segment: i32,
    pub text: String,
    pub flag: Option<moderation_flag::Model>,
}

/// Stores what the re-render `render_id` found in `job_id`'s corrected
/// segments, and returns the `edit` flags that stand for their texts now
/// (for the clips it cuts to list).
///
/// A flag already raised on the same text stands with its decision: a
/// reviewer is not asked twice, and an approval is never carried over to
/// other words. An `edit` flag whose text was corrected away is deleted,
/// unless a clip already cut shows its text (or a sibling re-render, still
/// running, may be cutting one): that clip stays held by it.
pub async fn store_edit_flags(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    render_id: Uuid,
    checked: Vec<CheckedEdit>,
) -> Result<Vec<moderation_flag::Model>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let segments: Vec<i32> = checked.iter().map(|c| c.segment).collect();
    let existing = moderation_flag::Entity::find()
        .filter(moderation_flag::Column::TenantId.eq(tenant_id))
        .filter(moderation_flag::Column::JobId.eq(job_id))
        .filter(moderation_flag::Column::Kind.is_in([FlagKind::Segment, FlagKind::Edit]))
        .filter(moderation_flag::Column::Segment.is_in(segments))
        .all(&txn)
        .await?;
    let mut standing = Vec::new();
    let mut inserted = Vec::new();
    let mut stale = Vec::new();
    for c in checked {
        let on_segment: Vec<&moderation_flag::Model> =
            existing.iter().filter(|f| f.segment == c.segment).collect();
        stale.extend(
            on_segment
                .iter()
                .filter(|f| f.kind == FlagKind::Edit && f.text != c.text)
                .map(|f| f.id),
        );
        match on_segment.iter().find(|f| f.text == c.text) {
            Some(same) if same.kind == FlagKind::Edit => standing.push((*same).clone()),
            // A flag on the speech itself holds the span anyway.
            Some(_) => {}
            None => {
                if let Some(flag) = c.flag {
                    standing.push(flag.clone());
                    inserted.push(flag);
                }
            }
        }
    }
    if !stale.is_empty() {
        let unused = unused(&txn, tenant_id, job_id, render_id, stale).await?;
        if !unused.is_empty() {
            moderation_flag::Entity::delete_many()
                .filter(moderation_flag::Column::TenantId.eq(tenant_id))
                .filter(moderation_flag::Column::Id.is_in(unused))
                .exec(&txn)
                .await?;
        }
    }
    crate::queries::insert_batched::<_, moderation_flag::ActiveModel>(&txn, inserted, 100).await?;
    txn.commit().await?;
    Ok(standing)
}

/// Of the `stale` flags, those no clip of `job_id`'s re-renders lists;
/// none while another re-render of it is running.
async fn unused(
    txn: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    job_id: Uuid,
    render_id: Uuid,
    stale: Vec<Uuid>,
) -> Result<Vec<Uuid>, DbErr> {
    let renders: Vec<(Uuid, JobStatus)> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::Status)
        .filter(job::Column::TenantId.eq(tenant_id))
        .filter(job::Column::ParentId.eq(job_id))
        .into_tuple()
        .all(txn)
        .await?;
    if renders
        .iter()
        .any(|(id, status)| *id != render_id && *status == JobStatus::Running)
    {
        return Ok(Vec::new());
    }
    let details: Vec<serde_json::Value> = clip::Entity::find()
        .select_only()
        .column(clip::Column::Details)
        .filter(clip::Column::TenantId.eq(tenant_id))
        .filter(clip::Column::JobId.is_in(renders.into_iter().map(|(id, _)| id)))
        .into_tuple()
        .all(txn)
        .await?;
    let used: HashSet<Uuid> = details.iter().flat_map(edit_flags).collect();
    Ok(stale.into_iter().filter(|id| !used.contains(id)).collect())
}

//! A job's rendered clips, and what holds each back from download.

use cutroom_entities::{FlagKind, FlagStatus, clip, job, moderation_flag};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// The key in a clip's `details` listing the `edit` flags on the corrected
/// text its captions show.
pub const EDIT_FLAGS: &str = "edit_flags";

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
/// speech inside its range, on the title or hook of the highlight it was
/// cut from, or on corrected text its captions show, that no reviewer has
/// approved. A re-render's clips are held by the flags of the job it
/// renders from.
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
            let edits = edit_flags(&c.details);
            let holding = flags
                .iter()
                .filter(|f| holds(f, c.start, c.end, c.highlight_rank, &edits))
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
        .filter(moderation_flag::Column::Status.ne(FlagStatus::Approved))
        .order_by_asc(moderation_flag::Column::Start)
        .all(db)
        .await
}

/// Whether an unapproved `flag` holds back the range `start..end`, cut
/// from the highlight of rank `highlight` if any, and captioned with the
/// corrected texts whose `edit` flags are `edits`. A flag on corrected
/// text holds only the clips that show that text: clips cut before the
/// correction, or after another, never show it.
pub fn holds(
    flag: &moderation_flag::Model,
    start: f64,
    end: f64,
    highlight: Option<i32>,
    edits: &[Uuid],
) -> bool {
    match flag.kind {
        FlagKind::Highlight => Some(flag.segment) == highlight,
        FlagKind::Edit => edits.contains(&flag.id),
        FlagKind::Segment => flag.start < end && start < flag.end,
    }
}

/// The `edit` flags a clip's `details` list (see [`EDIT_FLAGS`]).
pub fn edit_flags(details: &serde_json::Value) -> Vec<Uuid> {
    details
        .get(EDIT_FLAGS)
        .and_then(serde_json::Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(kind: FlagKind, segment: i32, start: f64, end: f64) -> moderation_flag::Model {
        moderation_flag::Model {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            job_id: Uuid::nil(),
            kind,
            segment,
            start,
            end,
            text: "I will find you".into(),
            speaker: None,
            scores: serde_json::json!([]),
            fired: serde_json::json!([]),
            categories: ",violence,".into(),
            action: "block".into(),
            max_score: 0.9,
            status: FlagStatus::Open,
            created_at: chrono::Utc::now(),
            decided_at: None,
        }
    }

    #[test]
    fn corrections_hold_only_the_clips_that_show_them() {
        let said = flag(FlagKind::Segment, 3, 10.0, 14.0);
        let edit = flag(FlagKind::Edit, 3, 10.0, 14.0);
        let shown = serde_json::json!({ EDIT_FLAGS: [edit.id] });
        assert_eq!(edit_flags(&shown), [edit.id]);
        assert!(edit_flags(&serde_json::json!({"range": 0})).is_empty());
        // What was said holds every clip over it, whatever its captions.
        assert!(holds(&said, 12.0, 20.0, None, &[]));
        // A correction holds the clip captioned with it, not one cut over
        // the same span before it (or the job's own, cut from the speech).
        assert!(holds(&edit, 12.0, 20.0, None, &edit_flags(&shown)));
        assert!(!holds(&edit, 12.0, 20.0, None, &[]));
        assert!(!holds(&edit, 12.0, 20.0, Some(3), &[]));
    }
}

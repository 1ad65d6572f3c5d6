//! Flags as the review queue stores them: one row per flag, replaced
//! whenever the job is moderated again.

use cutroom_core::queries::review;
use cutroom_entities::moderation_flag;

use super::report::Flag;

/// A flag as the review queue stores it.
pub(super) fn flag_row(
    tenant_id: uuid::Uuid,
    job_id: uuid::Uuid,
    f: &Flag,
    now: chrono::DateTime<chrono::Utc>,
) -> moderation_flag::Model {
    let mut categories: Vec<&str> = f.fired.iter().map(|x| x.category.name()).collect();
    categories.sort_unstable();
    categories.dedup();
    moderation_flag::Model {
        id: uuid::Uuid::now_v7(),
        tenant_id,
        job_id,
        kind: f.kind,
        segment: i32::try_from(f.segment).unwrap_or(i32::MAX),
        start: f.start,
        end: f.end,
        text: f.text.clone(),
        speaker: f.speaker.clone(),
        scores: serde_json::to_value(&f.scores).expect("scores serialise"),
        fired: serde_json::to_value(&f.fired).expect("rules serialise"),
        categories: format!(",{},", categories.join(",")),
        action: f.action.name().to_owned(),
        max_score: f.fired.iter().map(|x| x.score).fold(0.0, f32::max),
        status: review::FlagStatus::Open,
        created_at: now,
        decided_at: None,
    }
}

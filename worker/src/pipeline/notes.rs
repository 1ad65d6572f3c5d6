//! The job events that are not stage boundaries: `moderation_flagged` and
//! `clips_ready` (webhooks follow them).

use cutroom_core::{events::JobEvent, queries::events};
use serde_json::json;

use super::{JobCtx, Pipeline, StageError, moderate};

impl Pipeline<'_> {
    /// Records a job event that is not a stage boundary (webhooks follow it).
    async fn note(
        &self,
        ctx: &JobCtx<'_>,
        event: JobEvent,
        data: serde_json::Value,
    ) -> Result<(), StageError> {
        let job = ctx.job;
        events::record(&self.db.orm, job.tenant_id, job.id, event, Some(data)).await?;
        Ok(())
    }

    /// `moderation_flagged` when moderation raised flags; they are in the
    /// review queue once the stage has stored them.
    pub(super) async fn flagged(
        &self,
        ctx: &JobCtx<'_>,
        report: &moderate::ModerationReport,
    ) -> Result<(), StageError> {
        let summary = &report.summary;
        if summary.flagged_segments + summary.flagged_highlights == 0 {
            return Ok(());
        }
        self.note(
            ctx,
            JobEvent::ModerationFlagged,
            json!({
                "flagged_segments": summary.flagged_segments,
                "flagged_highlights": summary.flagged_highlights,
                "flagged_seconds": summary.flagged_seconds,
                "action": summary.action,
            }),
        )
        .await
    }

    /// `clips_ready` once the clips are stored and listed, when there are any.
    pub(super) async fn clips_ready(
        &self,
        ctx: &JobCtx<'_>,
        count: usize,
    ) -> Result<(), StageError> {
        if count == 0 {
            return Ok(());
        }
        self.note(ctx, JobEvent::ClipsReady, json!({ "count": count }))
            .await
    }
}

//! A re-render's moderation: the segments people corrected since the job
//! ran are read by the same classifier, under the job's policy, before any
//! clip is captioned with them. Their flags go to the job's review queue
//! (kind `edit`), and each clip lists the ones on text it shows, so that
//! exactly those clips are held until a reviewer approves that text.

use cutroom_core::queries::review::{self, CheckedEdit};
use uuid::Uuid;

use super::{ModerationReport, flag_row, score, write_report};
use crate::pipeline::{JobCtx, Output, StageError, transcribe::Transcript};

/// A flag standing for corrected text, and the span of its segment: a clip
/// cut over the span shows the text.
#[derive(Clone, Debug)]
pub(crate) struct EditFlag {
    pub id: Uuid,
    pub start: f64,
    pub end: f64,
}

/// Reads the `edited` segments of `parent`'s `transcript`, stores their
/// flags on `parent`, and writes the re-render's `moderation.json` (only
/// those segments, listed in `edited_segments`). Returns the flags that
/// stand for the texts now, decided or not.
pub(crate) async fn recheck(
    ctx: &JobCtx<'_>,
    parent: Uuid,
    transcript: &Transcript,
    edited: &[usize],
) -> Result<(ModerationReport, Output, Vec<EditFlag>), StageError> {
    let corrected = Transcript {
        version: transcript.version,
        model: transcript.model.clone(),
        language: transcript.language.clone(),
        language_probability: transcript.language_probability,
        duration: transcript.duration,
        segments: transcript
            .segments
            .iter()
            .filter(|s| edited.contains(&s.id))
            .cloned()
            .collect(),
    };
    let mut report = score(ctx, &corrected, &[]).await?;
    report.edited_segments = Some(corrected.segments.iter().map(|s| s.id).collect());
    for flag in &mut report.flags {
        flag.kind = review::FlagKind::Edit;
    }
    let job = ctx.job;
    let now = chrono::Utc::now();
    let checked = corrected
        .segments
        .iter()
        .map(|s| CheckedEdit {
            segment: i32::try_from(s.id).unwrap_or(i32::MAX),
            text: s.text.trim().to_owned(),
            flag: report
                .flags
                .iter()
                .find(|f| f.segment == s.id)
                .map(|f| flag_row(job.tenant_id, parent, f, now)),
        })
        .collect();
    let standing =
        review::store_edit_flags(&ctx.db.orm, job.tenant_id, parent, job.id, checked).await?;
    let output = write_report(ctx, &report).await?;
    let flags = standing
        .into_iter()
        .map(|f| EditFlag {
            id: f.id,
            start: f.start,
            end: f.end,
        })
        .collect();
    Ok((report, output, flags))
}

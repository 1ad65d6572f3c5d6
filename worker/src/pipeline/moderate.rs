//! Moderation: every transcript segment is scored by the toxicity
//! classifier ([`crate::text::toxicity`], words) and the meaning detector
//! ([`crate::text::meaning`], sentence embeddings against labelled
//! exemplars), fused per Cutroom category ([`signals`],
//! [`cutroom_core::moderation::Category`]), and the job's policy decides
//! which segments are flagged or blocked. Produces `moderation.json`.
//!
//! Both signals were trained on English. A transcript in another
//! language is not scored at all and the report says
//! `unsupported_language`, never "clean".
//!
//! Custom policies in plain language are judged by the job's LLM provider
//! ([`crate::analysis::policies`]) and add to the same flags; whether they
//! could be applied is in the report's `custom` section.
//!
//! The stage's parts: [`signals`] scores each text, [`rules`] applies the
//! policy's category rules, [`custom`] the custom policies, [`report`] is
//! `moderation.json`'s format, [`flags`] the review queue's rows, and
//! [`edits`] re-reads the segments people corrected.

use cutroom_core::{ErrorCode, queries::review};

use super::{JobCtx, Output, Stage, StageError, transcribe::Transcript};
use crate::analysis::builtin::Highlight;

mod custom;
mod edits;
mod flags;
mod report;
mod rules;
pub(crate) mod signals;

use custom::{apply_violations, judge_custom};
pub(crate) use edits::{EditFlag, recheck};
use flags::flag_row;
pub(crate) use report::ModerationReport;
pub(crate) use rules::assess;
use rules::{assess_highlights, highlight_text, said_verbatim};

/// The classifier's language.
const LANGUAGE: &str = "en";

/// The stage: scores the transcript and writes `moderation.json`.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    transcript: &Transcript,
    highlights: &[Highlight],
) -> Result<(ModerationReport, Output), StageError> {
    let report = score(ctx, transcript, highlights).await?;
    // The review queue: the job's flags replace any an earlier run wrote.
    let job = ctx.job;
    let now = chrono::Utc::now();
    let rows = report
        .flags
        .iter()
        .map(|f| flag_row(job.tenant_id, job.id, f, now))
        .collect();
    review::replace_for_job(&ctx.db.orm, job.tenant_id, job.id, rows).await?;
    let output = write_report(ctx, &report).await?;
    Ok((report, output))
}

/// The report on `transcript` and `highlights` under the job's policy: the
/// classifier's scores, and the custom policies' verdicts.
async fn score(
    ctx: &JobCtx<'_>,
    transcript: &Transcript,
    highlights: &[Highlight],
) -> Result<ModerationReport, StageError> {
    let policy = ctx.options.moderation.clone();
    let scored = if transcript
        .language
        .as_deref()
        .is_some_and(|l| l != LANGUAGE)
    {
        None
    } else {
        // Segments, then each highlight's title and hook as one text. A
        // title and hook that are the transcript's own words (the builtin
        // provider's) were scored with their segments: flagging them again
        // would ask reviewers twice.
        let own: Vec<bool> = highlights
            .iter()
            .map(|h| said_verbatim(h, transcript))
            .collect();
        let texts: Vec<String> = transcript
            .segments
            .iter()
            .map(|s| s.text.clone())
            .chain(highlights.iter().zip(&own).map(|(h, &own)| {
                if own {
                    String::new()
                } else {
                    highlight_text(h)
                }
            }))
            .collect();
        let engines = std::sync::Arc::clone(ctx.engines);
        let scores = ctx
            .blocking(Stage::Moderate, move |progress| {
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                let out = signals::score_texts(&engines, &texts)?;
                progress.set(1.0);
                anyhow::Ok(out)
            })
            .await?
            .map_err(|e| {
                StageError::failed(
                    ErrorCode::InternalError,
                    "the moderation classifier failed; try again later",
                )
                .detail(format!("{e:#}"))
            })?;
        Some(scores)
    };
    let (segment_scores, highlight_scores) = match &scored {
        Some(all) => {
            let (a, b) = all.split_at(transcript.segments.len());
            (Some(a), b)
        }
        None => (None, &[][..]),
    };
    let mut report = assess(&policy, transcript, segment_scores);
    assess_highlights(&policy, highlights, highlight_scores, &mut report);
    if !policy.custom.is_empty() {
        let (custom, violations) = judge_custom(ctx, &policy, transcript).await?;
        apply_violations(
            &policy,
            transcript,
            segment_scores,
            &violations,
            &mut report,
        );
        report.custom = Some(custom);
    }
    Ok(report)
}

/// `moderation.json`.
async fn write_report(ctx: &JobCtx<'_>, report: &ModerationReport) -> Result<Output, StageError> {
    let (model, vocabulary) = ctx.engines.set.toxicity();
    let (embedder, tokenizer) = ctx.engines.set.sentence_embedder();
    let bytes = serde_json::to_vec_pretty(report).expect("the report serialises");
    Ok(ctx
        .write_output("moderation.json", "application/json", bytes)
        .await?
        .made_with([model, vocabulary, embedder, tokenizer]))
}

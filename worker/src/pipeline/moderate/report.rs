//! The report's format: `moderation.json` as serialised, one [`Flag`] per
//! segment or highlight on which a rule fired, and the job's [`Summary`].

use cutroom_core::{
    moderation::{Action, Category},
    outputs::analysis::UsageReport,
    queries::review,
};
use serde::Serialize;

use super::signals::Signal;
use crate::pipeline::transcribe::Segment;

pub(super) const FORMAT_VERSION: u32 = 1;

/// The contents of `moderation.json`. Times in seconds.
#[derive(Debug, Serialize)]
pub(crate) struct ModerationReport {
    pub version: u32,
    /// `ok`, `empty` (nothing was said) or `unsupported_language`.
    pub status: &'static str,
    /// The transcript's language.
    pub language: Option<String>,
    /// Each category's rule as applied, and whether the built-in signals
    /// score it at all.
    pub categories: Vec<CategoryRule>,
    /// Segments on which at least one rule fired, in time order.
    pub flags: Vec<Flag>,
    pub summary: Summary,
    /// The job's custom policies, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomReport>,
    /// A re-render's report: the segments people corrected since the job
    /// ran, the only ones it read (the rest were read with the job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_segments: Option<Vec<usize>>,
}

impl ModerationReport {
    /// A flag on a transcript segment, counted in the summary.
    pub(super) fn add_segment_flag(
        &mut self,
        segment: &Segment,
        scores: Vec<CategoryScore>,
        fired: Vec<Fired>,
        action: Action,
    ) {
        self.summary.flagged_segments += 1;
        self.summary.flagged_seconds += segment.end - segment.start;
        self.flags.push(Flag {
            kind: review::FlagKind::Segment,
            segment: segment.id,
            start: segment.start,
            end: segment.end,
            text: segment.text.trim().to_owned(),
            speaker: segment.speaker.clone(),
            scores,
            fired,
            action,
        });
    }
}

/// How the job's custom policies were judged.
#[derive(Debug, Serialize)]
pub(crate) struct CustomReport {
    /// `applied`; `not_applied` (the job has no LLM provider to judge
    /// them); `failed` (the provider failed: `code` and `message` say how).
    pub status: &'static str,
    pub policies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Segment and policy pairs judged a violation.
    pub violations: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageReport>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CategoryRule {
    pub category: Category,
    pub covered: bool,
    /// The built-in signals that score it: `classifier` (the toxicity
    /// classifier, words), `meaning` (the exemplar bank); the higher wins.
    pub signals: Vec<Signal>,
    pub threshold: f32,
    pub action: Action,
}

#[derive(Debug, Serialize)]
pub(crate) struct Flag {
    /// A transcript segment or a highlight candidate's title and hook
    /// (`edit` for a re-render's corrected segments).
    pub kind: review::FlagKind,
    /// The transcript segment's id, or the highlight's rank (1 for the best).
    pub segment: usize,
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub speaker: Option<String>,
    /// Every covered category's score, rounded to 4 decimals.
    pub scores: Vec<CategoryScore>,
    /// The rules that fired, strongest action first.
    pub fired: Vec<Fired>,
    /// The strongest action that fired: `flag` or `block`.
    pub action: Action,
}

#[derive(Debug, Serialize)]
pub(crate) struct CategoryScore {
    pub category: Category,
    pub score: f32,
}

#[derive(Debug, Serialize)]
pub(crate) struct Fired {
    pub category: Category,
    /// The category's score; 1 for a custom policy's violation.
    pub score: f32,
    /// The signal the score came from; absent for a custom policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// The category rule's threshold; absent for a custom policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f32>,
    pub action: Action,
    /// The custom policy that fired, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The LLM's reason for a custom policy's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    /// Segments scored.
    pub segments: usize,
    /// Segments not scored because the classifier knows none of their
    /// words (another language, or only names and numbers).
    pub unscored_segments: usize,
    pub flagged_segments: usize,
    /// Highlight candidates whose title or hook fired a rule.
    pub flagged_highlights: usize,
    /// Seconds covered by flagged segments.
    pub flagged_seconds: f64,
    /// The highest score of each covered category over the whole job.
    pub highest: Vec<CategoryScore>,
    /// The strongest action over the job: `ignore` when nothing fired.
    pub action: Option<Action>,
}

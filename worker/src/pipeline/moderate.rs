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

use cutroom_core::{
    ErrorCode,
    analysis::Provider,
    moderation::{Action, Category, ModerationPolicy},
    queries::review,
};
use cutroom_entities::moderation_flag;
use serde::Serialize;

use super::{
    JobCtx, Output, Progress, Stage, StageError,
    analyze::{UsageReport, endpoint},
    transcribe::{Segment, Transcript},
};
use crate::analysis::{
    builtin::Highlight,
    llm::LlmClient,
    policies::{self, Violation},
};

mod edits;
pub(crate) mod signals;
pub(crate) use edits::{EditFlag, recheck};
use signals::{Scores, Signal, covered};

const FORMAT_VERSION: u32 = 1;
/// The classifier's language.
const LANGUAGE: &str = "en";

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
    fn add_segment_flag(
        &mut self,
        segment: &Segment,
        scores: Vec<CategoryScore>,
        fired: Vec<Fired>,
        action: Action,
    ) {
        self.summary.flagged_segments += 1;
        self.summary.flagged_seconds += segment.end - segment.start;
        self.flags.push(Flag {
            kind: review::KIND_SEGMENT,
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
    /// `segment` (a transcript segment) or `highlight` (a highlight
    /// candidate's title and hook).
    pub kind: &'static str,
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

/// The report for `transcript` under `policy`, given each segment's scores
/// (`None` for all: the language is not one the signals read; `None`
/// for a segment: none of its words are known to the classifier).
pub(crate) fn assess(
    policy: &ModerationPolicy,
    transcript: &Transcript,
    scores: Option<&[Option<Scores>]>,
) -> ModerationReport {
    let categories = Category::ALL
        .iter()
        .map(|&category| {
            let rule = policy.rule(category);
            CategoryRule {
                category,
                covered: category.covered(),
                signals: [
                    (category.classifier_label().is_some(), Signal::Classifier),
                    (category.meaning_scored(), Signal::Meaning),
                ]
                .into_iter()
                .filter_map(|(on, s)| on.then_some(s))
                .collect(),
                threshold: rule.threshold,
                action: rule.action,
            }
        })
        .collect();
    let mut report = ModerationReport {
        version: FORMAT_VERSION,
        status: "ok",
        language: transcript.language.clone(),
        categories,
        flags: Vec::new(),
        summary: Summary::default(),
        custom: None,
        edited_segments: None,
    };
    let Some(scores) = scores else {
        report.status = "unsupported_language";
        return report;
    };
    report.summary.highest = covered()
        .map(|category| CategoryScore {
            category,
            score: 0.0,
        })
        .collect();
    report.summary.action = Some(Action::Ignore);
    if transcript.segments.is_empty() {
        report.status = "empty";
    }
    for (segment, s) in transcript.segments.iter().zip(scores) {
        let Some(s) = s else {
            report.summary.unscored_segments += 1;
            continue;
        };
        report.summary.segments += 1;
        let Some((category_scores, fired, action)) = judge(policy, s, &mut report.summary) else {
            continue;
        };
        report.add_segment_flag(segment, category_scores, fired, action);
    }
    report.summary.flagged_seconds = (report.summary.flagged_seconds * 1000.0).round() / 1000.0;
    report
}

/// Adds flags for highlights whose title and hook fire a rule (`scores`
/// in highlight order; `None` where the classifier knows none of the
/// words). Nothing is added to a report that scored nothing.
pub(crate) fn assess_highlights(
    policy: &ModerationPolicy,
    highlights: &[Highlight],
    scores: &[Option<Scores>],
    report: &mut ModerationReport,
) {
    if report.status == "unsupported_language" {
        return;
    }
    for (k, (h, s)) in highlights.iter().zip(scores).enumerate() {
        let Some(s) = s else { continue };
        let Some((category_scores, fired, action)) = judge(policy, s, &mut report.summary) else {
            continue;
        };
        report.summary.flagged_highlights += 1;
        report.flags.push(Flag {
            kind: review::KIND_HIGHLIGHT,
            segment: k + 1,
            start: h.start,
            end: h.end,
            text: highlight_text(h),
            speaker: None,
            scores: category_scores,
            fired,
            action,
        });
    }
}

/// Whether a highlight's hook is word for word what was said over its span,
/// and its title is the hook's opening: then they need no scoring of their
/// own.
fn said_verbatim(h: &Highlight, transcript: &Transcript) -> bool {
    fn words(text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|w| !w.is_empty())
            .collect()
    }
    let said: Vec<String> = transcript
        .segments
        .iter()
        .flat_map(|s| &s.words)
        .filter(|w| w.end >= h.start && w.start <= h.end)
        .flat_map(|w| words(&w.text))
        .collect();
    let hook = words(&h.hook);
    let title = words(h.title.trim_end_matches('…'));
    !hook.is_empty()
        && said.windows(hook.len()).any(|w| w == hook.as_slice())
        && hook.starts_with(&title)
}

/// The text of a highlight that is moderated: its title and its hook.
fn highlight_text(h: &Highlight) -> String {
    if h.hook.starts_with(h.title.trim_end_matches('…')) {
        h.hook.clone()
    } else {
        format!("{} — {}", h.title, h.hook)
    }
}

/// One text's scores under `policy`: every covered category's score, the
/// rules that fired (strongest first) and the strongest action, or `None`
/// when nothing fired. Keeps the summary's highest scores and action.
fn judge(
    policy: &ModerationPolicy,
    s: &Scores,
    summary: &mut Summary,
) -> Option<(Vec<CategoryScore>, Vec<Fired>, Action)> {
    let scored: Vec<(Category, f32, Signal)> = covered()
        .filter_map(|c| s.get(c).map(|(score, signal)| (c, round4(score), signal)))
        .collect();
    let category_scores: Vec<CategoryScore> = scored
        .iter()
        .map(|&(category, score, _)| CategoryScore { category, score })
        .collect();
    for c in &category_scores {
        if let Some(h) = summary
            .highest
            .iter_mut()
            .find(|h| h.category == c.category)
        {
            h.score = h.score.max(c.score);
        }
    }
    let mut fired: Vec<Fired> = scored
        .iter()
        .filter_map(|&(category, score, signal)| {
            let rule = policy.rule(category);
            (rule.action != Action::Ignore && score >= rule.threshold).then_some(Fired {
                category,
                score,
                signal: Some(signal),
                threshold: Some(rule.threshold),
                action: rule.action,
                policy: None,
                rationale: None,
            })
        })
        .collect();
    fired.sort_by(|a, b| {
        b.action
            .rank()
            .cmp(&a.action.rank())
            .then(b.score.total_cmp(&a.score))
    });
    let action = fired.first()?.action;
    if summary.action.is_none_or(|s| action.rank() > s.rank()) {
        summary.action = Some(action);
    }
    Some((category_scores, fired, action))
}

/// A flag as the review queue stores it.
fn flag_row(
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
        kind: f.kind.to_owned(),
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
        status: review::OPEN.to_owned(),
        created_at: now,
        decided_at: None,
    }
}

/// The job's custom policies judged by its LLM provider, or why they
/// could not be.
async fn judge_custom(
    ctx: &JobCtx<'_>,
    policy: &ModerationPolicy,
    transcript: &Transcript,
) -> Result<(CustomReport, Vec<Violation>), StageError> {
    let provider = ctx.options.analysis.provider.unwrap_or_default();
    let mut report = CustomReport {
        status: "not_applied",
        policies: policy.custom.iter().map(|c| c.name.clone()).collect(),
        provider: None,
        model: None,
        violations: 0,
        code: None,
        message: None,
        usage: None,
    };
    if provider == Provider::Builtin {
        report.code = Some("llm_not_configured");
        report.message = Some(
            "custom policies are judged by an LLM provider; this job's analysis provider is \
             builtin (set options.analysis.provider, or the tenant's analysis.provider)"
                .into(),
        );
        return Ok((report, Vec::new()));
    }
    report.provider = Some(provider.name());
    let endpoint = match endpoint(ctx, provider).await? {
        Ok(e) => e,
        Err(why) => {
            report.code = Some("llm_not_configured");
            report.message = Some(why);
            return Ok((report, Vec::new()));
        }
    };
    report.model = Some(endpoint.model.clone());
    let segments: Vec<&str> = transcript
        .segments
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    if segments.is_empty() {
        report.status = "applied";
        return Ok((report, Vec::new()));
    }
    let client = LlmClient::for_endpoint(
        &endpoint,
        &ctx.config.llm_private_hosts,
        ctx.llm_deadline(transcript.duration),
    );
    let progress = Progress::default();
    let (result, run) = ctx
        .tracked(
            Stage::Moderate,
            &progress,
            policies::judge(
                &client,
                &policy.custom,
                &segments,
                endpoint.max_in_flight as usize,
                |done, n| progress.set(done as f32 / n as f32),
            ),
        )
        .await?;
    report.usage = Some(UsageReport::new(&run, &endpoint));
    match result {
        Ok(violations) => {
            report.status = "applied";
            report.violations = violations.len();
            Ok((report, violations))
        }
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "custom moderation policies could not be judged");
            report.status = "failed";
            report.code = Some(e.code());
            report.message = Some(format!(
                "the {} provider could not judge the custom policies: {e}",
                provider.name()
            ));
            Ok((report, Vec::new()))
        }
    }
}

/// Adds custom policies' violations to the report: to the segment's flag
/// when the classifier already raised one, else as a new flag.
pub(crate) fn apply_violations(
    policy: &ModerationPolicy,
    transcript: &Transcript,
    scores: Option<&[Option<Scores>]>,
    violations: &[Violation],
    report: &mut ModerationReport,
) {
    for v in violations {
        let (Some(segment), Some(custom)) = (
            transcript.segments.get(v.segment),
            policy.custom.get(v.policy),
        ) else {
            continue;
        };
        if custom.action == Action::Ignore {
            continue;
        }
        let fired = Fired {
            category: custom.category,
            score: 1.0,
            signal: None,
            threshold: None,
            action: custom.action,
            policy: Some(custom.name.clone()),
            rationale: Some(v.rationale.clone()),
        };
        let existing = report
            .flags
            .iter_mut()
            .find(|f| f.kind == review::KIND_SEGMENT && f.segment == segment.id);
        let flag = match existing {
            Some(f) => f,
            None => {
                let category_scores = scores
                    .and_then(|all| all.get(v.segment))
                    .and_then(Option::as_ref)
                    .map(|s| {
                        covered()
                            .filter_map(|category| {
                                s.get(category).map(|(score, _)| CategoryScore {
                                    category,
                                    score: round4(score),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                report.add_segment_flag(segment, category_scores, Vec::new(), custom.action);
                report.flags.last_mut().expect("just pushed")
            }
        };
        flag.fired.push(fired);
        flag.fired.sort_by(|a, b| {
            b.action
                .rank()
                .cmp(&a.action.rank())
                .then(b.score.total_cmp(&a.score))
        });
        flag.action = flag.fired[0].action;
        if report
            .summary
            .action
            .is_none_or(|s| flag.action.rank() > s.rank())
        {
            report.summary.action = Some(flag.action);
        }
    }
    report.summary.flagged_seconds = (report.summary.flagged_seconds * 1000.0).round() / 1000.0;
    // Segments in time order, then highlights by rank, as `assess` left them.
    report.flags.sort_by(|a, b| {
        let key = |f: &Flag| {
            if f.kind == review::KIND_HIGHLIGHT {
                (1, 0.0)
            } else {
                (0, f.start)
            }
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(a.segment.cmp(&b.segment))
    });
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use cutroom_core::moderation::Rule;

    use super::*;

    fn transcript(language: Option<&str>, texts: &[&str]) -> Transcript {
        Transcript {
            version: 1,
            model: "tiny.en".into(),
            language: language.map(str::to_owned),
            language_probability: None,
            duration: texts.len() as f64 * 2.0,
            segments: texts
                .iter()
                .enumerate()
                .map(|(id, t)| Segment {
                    id,
                    start: id as f64 * 2.0,
                    end: id as f64 * 2.0 + 1.5,
                    text: format!(" {t}"),
                    speaker: Some("S1".into()),
                    confidence: 0.9,
                    words: Vec::new(),
                })
                .collect(),
        }
    }

    /// Scores in the classifier's label order: toxic, severe_toxic,
    /// obscene, threat, insult, identity_hate.
    const CLEAN: Scores = Scores::classifier_only([0.01, 0.0, 0.0, 0.0, 0.0, 0.0]);
    const THREAT: Scores = Scores::classifier_only([0.9, 0.1, 0.2, 0.93, 0.4, 0.1]);
    const SWEARING: Scores = Scores::classifier_only([0.7, 0.0, 0.95, 0.0, 0.1, 0.0]);

    #[test]
    fn rules_fire_at_their_thresholds_and_the_strongest_action_wins() {
        let t = transcript(Some("en"), &["hello", "i will hurt you", "holy shit"]);
        let policy = ModerationPolicy {
            rules: [(
                Category::Violence,
                Rule {
                    threshold: 0.9,
                    action: Action::Block,
                },
            )]
            .into(),
            ..ModerationPolicy::default()
        };
        let r = assess(
            &policy,
            &t,
            Some(&[Some(CLEAN), Some(THREAT), Some(SWEARING)]),
        );
        assert_eq!(r.status, "ok");
        assert_eq!(r.summary.segments, 3);
        assert_eq!(r.flags.len(), 2);
        let threat = &r.flags[0];
        assert_eq!(threat.segment, 1);
        assert_eq!(threat.text, "i will hurt you");
        assert_eq!(threat.action, Action::Block);
        assert_eq!(threat.fired[0].category, Category::Violence);
        // The default rules (0.5) flag after the block, highest first.
        let fired: Vec<Category> = threat.fired.iter().map(|f| f.category).collect();
        assert_eq!(fired, [Category::Violence, Category::Toxicity]);
        // Swearing: profanity 0.95 and toxicity 0.7 flag.
        let fired: Vec<Category> = r.flags[1].fired.iter().map(|f| f.category).collect();
        assert_eq!(fired, [Category::Profanity, Category::Toxicity]);
        assert_eq!(r.flags[1].action, Action::Flag);
        assert_eq!(r.summary.action, Some(Action::Block));
        assert_eq!(r.summary.flagged_seconds, 3.0);
        let highest = |c| {
            r.summary
                .highest
                .iter()
                .find(|h| h.category == c)
                .unwrap()
                .score
        };
        assert_eq!(highest(Category::Profanity), 0.95);
        assert_eq!(highest(Category::Violence), 0.93);
        // Each category lists the signals that score it.
        let rule = |c| r.categories.iter().find(|x| x.category == c).unwrap();
        assert!(rule(Category::Sexual).covered);
        assert_eq!(rule(Category::Sexual).signals, [Signal::Meaning]);
        assert_eq!(
            rule(Category::Violence).signals,
            [Signal::Classifier, Signal::Meaning]
        );
        assert_eq!(rule(Category::Profanity).signals, [Signal::Classifier]);
        assert_eq!(threat.fired[0].signal, Some(Signal::Classifier));
    }

    #[test]
    fn ignore_rules_never_fire_and_clean_jobs_say_ignore() {
        let t = transcript(Some("en"), &["holy shit"]);
        let policy = ModerationPolicy {
            rules: [
                (
                    Category::Profanity,
                    Rule {
                        threshold: 0.1,
                        action: Action::Ignore,
                    },
                ),
                (
                    Category::Toxicity,
                    Rule {
                        threshold: 0.99,
                        action: Action::Flag,
                    },
                ),
            ]
            .into(),
            ..ModerationPolicy::default()
        };
        let r = assess(&policy, &t, Some(&[Some(SWEARING)]));
        assert!(r.flags.is_empty());
        assert_eq!(r.summary.action, Some(Action::Ignore));
    }

    #[test]
    fn other_languages_and_silence_are_not_called_clean() {
        let fr = transcript(Some("fr"), &["bonjour"]);
        let r = assess(&ModerationPolicy::default(), &fr, None);
        assert_eq!(r.status, "unsupported_language");
        assert_eq!(r.summary.segments, 0);
        assert_eq!(r.summary.action, None);
        let silent = transcript(None, &[]);
        let r = assess(&ModerationPolicy::default(), &silent, Some(&[]));
        assert_eq!(r.status, "empty");
        // Segments the classifier cannot read are counted, not scored.
        let names = transcript(Some("en"), &["Xochitl Oyelaran", "hello there"]);
        let r = assess(
            &ModerationPolicy::default(),
            &names,
            Some(&[None, Some(CLEAN)]),
        );
        assert_eq!((r.summary.segments, r.summary.unscored_segments), (1, 1));
    }

    fn highlight(start: f64, end: f64, title: &str, hook: &str) -> Highlight {
        Highlight {
            start,
            end,
            title: title.into(),
            hook: hook.into(),
            score: 50,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn highlight_titles_and_hooks_are_flagged_by_rank() {
        let t = transcript(Some("en"), &["hello"]);
        let highlights = [
            highlight(10.0, 30.0, "A nice day", "A nice day."),
            highlight(40.0, 60.0, "Payback", "I will hurt you."),
        ];
        let policy = ModerationPolicy::default();
        let mut r = assess(&policy, &t, Some(&[Some(CLEAN)]));
        assess_highlights(&policy, &highlights, &[Some(CLEAN), Some(THREAT)], &mut r);
        assert_eq!(r.summary.flagged_segments, 0);
        assert_eq!(r.summary.flagged_highlights, 1);
        let f = &r.flags[0];
        assert_eq!((f.kind, f.segment), ("highlight", 2));
        assert_eq!(f.text, "Payback — I will hurt you.");
        assert_eq!((f.start, f.end), (40.0, 60.0));
        assert_eq!(r.summary.action, Some(Action::Flag));
        // A title cut from its hook is not said twice.
        assert_eq!(highlight_text(&highlights[0]), "A nice day.");
    }

    #[test]
    fn highlights_in_the_speakers_own_words_are_not_scored_twice() {
        let mut t = transcript(Some("en"), &["I will hurt you. Bye."]);
        t.segments[0].words = ["I", "will", "hurt", "you.", "Bye."]
            .iter()
            .enumerate()
            .map(|(k, w)| crate::pipeline::transcribe::Word {
                start: k as f64 * 0.3,
                end: k as f64 * 0.3 + 0.25,
                text: format!(" {w}"),
                probability: 0.9,
                speaker: None,
            })
            .collect();
        let own = highlight(0.0, 1.5, "I will hurt you", "I will hurt you.");
        assert!(said_verbatim(&own, &t));
        let written = highlight(0.0, 1.5, "A threat, live", "I will hurt you.");
        assert!(!said_verbatim(&written, &t));
        // Whisper gives some words no length: one at the very start counts.
        t.segments[0].words[0].end = 0.0;
        assert!(said_verbatim(&own, &t));
        let elsewhere = highlight(1.1, 1.5, "I will hurt you", "I will hurt you.");
        assert!(!said_verbatim(&elsewhere, &t));
    }

    #[test]
    fn custom_violations_join_the_classifiers_flags_or_raise_their_own() {
        use cutroom_core::moderation::CustomPolicy;
        let t = transcript(
            Some("en"),
            &["hello", "i will hurt you", "buy brand x", "bye"],
        );
        let policy = ModerationPolicy {
            custom: vec![
                CustomPolicy {
                    name: "no_rivals".into(),
                    text: "No rival brands.".into(),
                    category: Category::Harassment,
                    action: Action::Block,
                },
                CustomPolicy {
                    name: "quiet".into(),
                    text: "Nothing.".into(),
                    category: Category::Hate,
                    action: Action::Ignore,
                },
            ],
            ..ModerationPolicy::default()
        };
        let scores = [Some(CLEAN), Some(THREAT), Some(CLEAN), None];
        let mut r = assess(&policy, &t, Some(&scores));
        assert_eq!(r.flags.len(), 1);
        let v = |segment, policy| Violation {
            segment,
            policy,
            rationale: "names a rival".into(),
        };
        // Segment 2 gets its own flag (blocking); segment 1 gains a fired
        // rule; an ignored policy and a segment out of range change nothing.
        apply_violations(
            &policy,
            &t,
            Some(&scores),
            &[v(2, 0), v(1, 0), v(0, 1), v(9, 0)],
            &mut r,
        );
        assert_eq!(r.flags.len(), 2);
        let (threat, rival) = (&r.flags[0], &r.flags[1]);
        assert_eq!((threat.segment, rival.segment), (1, 2), "time order kept");
        assert_eq!(threat.action, Action::Block);
        assert_eq!(threat.fired[0].policy.as_deref(), Some("no_rivals"));
        assert_eq!(threat.fired.len(), 3, "toxicity, violence and the policy");
        assert_eq!(rival.action, Action::Block);
        assert_eq!(rival.fired.len(), 1);
        assert_eq!(rival.fired[0].category, Category::Harassment);
        assert_eq!(rival.fired[0].threshold, None);
        assert_eq!(rival.scores.len(), 6, "the classifier's scores are kept");
        assert_eq!(r.summary.flagged_segments, 2);
        assert_eq!(r.summary.action, Some(Action::Block));
        let row = flag_row(
            uuid::Uuid::nil(),
            uuid::Uuid::nil(),
            threat,
            chrono::Utc::now(),
        );
        assert_eq!(
            row.categories, ",harassment,toxicity,violence,",
            "deduplicated"
        );
    }
}

//! The policy's category rules applied to the signals' scores: which
//! segments and highlights are flagged or blocked, and the summary's
//! highest scores and strongest action.

use cutroom_core::{
    moderation::{Action, Category, ModerationPolicy},
    queries::review,
};

use super::{
    report::{CategoryRule, CategoryScore, FORMAT_VERSION, Fired, Flag, ModerationReport, Summary},
    signals::{Scores, Signal, covered},
};
use crate::{analysis::builtin::Highlight, pipeline::transcribe::Transcript};

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
            kind: review::FlagKind::Highlight,
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

/// Whether a highlight's hook and title are each word for word what was
/// said over its span (builtin's are: its opening line and a clause of
/// it): then they need no scoring of their own.
pub(super) fn said_verbatim(h: &Highlight, transcript: &Transcript) -> bool {
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
    let said_here =
        |part: &[String]| !part.is_empty() && said.windows(part.len()).any(|w| w == part);
    said_here(&words(&h.hook)) && said_here(&words(h.title.trim_end_matches('…')))
}

/// The text of a highlight that is moderated: its title and its hook.
pub(super) fn highlight_text(h: &Highlight) -> String {
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

pub(super) fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
pub(super) mod tests {
    // `transcript`, `CLEAN` and `THREAT` are shared with the custom
    // policies' tests, which build on a report `assess` made.
    use cutroom_core::moderation::Rule;

    use super::*;
    use crate::pipeline::transcribe::Segment;

    pub(crate) fn transcript(language: Option<&str>, texts: &[&str]) -> Transcript {
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
                    edited_at: None,
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
    pub(crate) const CLEAN: Scores = Scores::classifier_only([0.01, 0.0, 0.0, 0.0, 0.0, 0.0]);
    pub(crate) const THREAT: Scores = Scores::classifier_only([0.9, 0.1, 0.2, 0.93, 0.4, 0.1]);
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
        assert_eq!((f.kind, f.segment), (review::FlagKind::Highlight, 2));
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
        // Builtin's title may be a later clause of the clip: still said.
        let clause = highlight(0.0, 1.5, "Bye", "I will hurt you.");
        assert!(said_verbatim(&clause, &t));
        // Whisper gives some words no length: one at the very start counts.
        t.segments[0].words[0].end = 0.0;
        assert!(said_verbatim(&own, &t));
        let elsewhere = highlight(1.1, 1.5, "I will hurt you", "I will hurt you.");
        assert!(!said_verbatim(&elsewhere, &t));
    }
}

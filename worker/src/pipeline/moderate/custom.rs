//! Custom policies in plain language, judged by the job's LLM provider
//! ([`crate::analysis::policies`]): their verdicts join the classifier's
//! flags, and the report's `custom` section says whether they could be
//! applied.

use cutroom_core::{
    analysis::Provider,
    moderation::{Action, ModerationPolicy},
    queries::review,
};

use super::{
    report::{CategoryScore, CustomReport, Fired, Flag, ModerationReport},
    rules::round4,
    signals::{Scores, covered},
};
use crate::{
    analysis::policies::{self, Violation},
    pipeline::{
        JobCtx, Progress, Stage, StageError,
        analyze::{client_for, endpoint, usage_report},
        transcribe::Transcript,
    },
};

/// The job's custom policies judged by its LLM provider, or why they
/// could not be.
pub(super) async fn judge_custom(
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
    report.provider = Some(endpoint.provider.name());
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
    let client = client_for(ctx, &endpoint, transcript.duration);
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
    report.usage = Some(usage_report(&run, &endpoint));
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
            .find(|f| f.kind == review::FlagKind::Segment && f.segment == segment.id);
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
            if f.kind == review::FlagKind::Highlight {
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

#[cfg(test)]
mod tests {
    use cutroom_core::moderation::Category;

    use super::*;
    use crate::pipeline::moderate::{
        flags::flag_row,
        rules::{
            assess,
            tests::{CLEAN, THREAT, transcript},
        },
    };

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

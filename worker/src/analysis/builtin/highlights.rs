//! Highlights: every run of whole sentences within the job's lengths is
//! measured, scored from signals with reasons, and the best kept without
//! overlapping each other by more than half.

use super::keywords::word_counts;
use super::phrasing::{dangling_start, ends_cleanly, hook_phrase, title_from, title_of};
use super::{Highlight, Lengths, MAX_OVERLAP, MIN_HIGHLIGHTS, PER_HOUR, Reason, Signal, Signals};
use crate::analysis::sentences::Sentence;

/// A run of sentences `first..=last` and what was measured on it.
struct Candidate {
    first: usize,
    last: usize,
    start: f64,
    end: f64,
    loudness: Option<f64>,
    pace: f64,
    topic: f32,
    turns: usize,
    reaction: f64,
}

pub(super) fn highlights(
    sentences: &[Sentence],
    boundaries: &[usize],
    centrality: &[f32],
    signals: &Signals<'_>,
    lengths: Lengths,
) -> Vec<Highlight> {
    let candidates = candidates(sentences, boundaries, centrality, signals, lengths);
    if candidates.is_empty() {
        return Vec::new();
    }
    let typical = Typical::of(&candidates);
    // How much a word says about a passage: rarer in the whole talk, more.
    let counts = word_counts(sentences);
    let total = counts.values().sum::<usize>().max(1) as f64;
    let weight = |w: &str| {
        counts
            .get(w)
            .map_or(0.0, |&c| 1.0 + (total / c as f64).ln())
    };

    let mut scored: Vec<(u32, Highlight)> = candidates
        .iter()
        .enumerate()
        .map(|(k, c)| score_candidate(sentences, c, k, &typical, &weight))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.start.total_cmp(&b.1.start)));

    let target = highlight_target(sentences);
    let mut kept: Vec<Highlight> = Vec::new();
    for (_, h) in scored {
        if kept.len() >= target {
            break;
        }
        if !kept.iter().any(|k| overlap_too_much(&h, k)) {
            kept.push(h);
        }
    }
    kept
}

/// Every run of whole sentences between the lengths that stays inside one
/// chapter, and what was measured on it.
fn candidates(
    sentences: &[Sentence],
    boundaries: &[usize],
    centrality: &[f32],
    signals: &Signals<'_>,
    lengths: Lengths,
) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for first in 0..sentences.len() {
        for last in first..sentences.len() {
            let (start, end) = (sentences[first].start, sentences[last].end);
            // A highlight tells one thing: it never runs into the next
            // chapter.
            if end - start > lengths.max || (last > first && boundaries.contains(&last)) {
                break;
            }
            if end - start < lengths.min {
                continue;
            }
            let run = &sentences[first..=last];
            let words: usize = run.iter().map(|s| s.words).sum();
            let speech: f64 = run.iter().map(Sentence::duration).sum();
            candidates.push(Candidate {
                first,
                last,
                start,
                end,
                loudness: mean_loudness(signals, start, end),
                pace: words as f64 / speech.max(0.1),
                topic: centrality[first..=last].iter().sum::<f32>() / run.len() as f32,
                turns: run
                    .windows(2)
                    .filter(|w| w[0].speaker != w[1].speaker)
                    .count(),
                reaction: reaction_after(signals.noise, start, end),
            });
        }
    }
    candidates
}

/// What a candidate is scored against: the candidates' typical loudness and
/// pace, and each candidate's rank among them.
struct Typical {
    loudness: Option<f64>,
    pace: Option<f64>,
    loud_rank: Vec<f64>,
    pace_rank: Vec<f64>,
    topic_rank: Vec<f64>,
}

impl Typical {
    fn of(candidates: &[Candidate]) -> Self {
        let loudness = median(candidates.iter().filter_map(|c| c.loudness).collect());
        let pace = median(candidates.iter().map(|c| c.pace).collect());
        let loud_rank = ranks(candidates, |c| c.loudness.unwrap_or(f64::MIN));
        let pace_rank = ranks(candidates, |c| c.pace);
        let topic_rank = ranks(candidates, |c| f64::from(c.topic));
        Self {
            loudness,
            pace,
            loud_rank,
            pace_rank,
            topic_rank,
        }
    }
}

/// Candidate `k`'s score, from the reasons it earned.
fn score_candidate(
    sentences: &[Sentence],
    c: &Candidate,
    k: usize,
    typical: &Typical,
    weight: &dyn Fn(&str) -> f64,
) -> (u32, Highlight) {
    let (typical_loudness, typical_pace) = (typical.loudness, typical.pace);
    let (loud_rank, pace_rank, topic_rank) =
        (&typical.loud_rank, &typical.pace_rank, &typical.topic_rank);
    let mut reasons = Vec::new();
    let opening = &sentences[c.first];
    let closing = &sentences[c.last];
    let mut add = |signal, weight: f64, strength: f64, detail: String| {
        let points = (weight * strength.clamp(0.0, 1.0)).round() as u32;
        if points > 0 {
            reasons.push(Reason {
                signal,
                points: Some(points),
                detail,
            });
        }
    };
    if opening.is_question() {
        add(
            Signal::Question,
            20.0,
            1.0,
            format!("opens with a question: \"{}\"", opening.text),
        );
    } else if let Some(phrase) = hook_phrase(&opening.text) {
        add(
            Signal::Hook,
            20.0,
            1.0,
            format!("opens with a hook (\"{phrase}\")"),
        );
    }
    let dangling = dangling_start(&opening.text);
    let clean_end = ends_cleanly(&closing.text);
    let standalone = match (dangling, clean_end) {
        (false, true) => 1.0,
        (false, false) | (true, true) => 0.4,
        (true, false) => 0.0,
    };
    add(
        Signal::Standalone,
        15.0,
        standalone,
        match (dangling, clean_end) {
            (false, true) => "starts and ends on whole sentences".into(),
            (true, _) => {
                "ends on a whole sentence, but opens on a reference to what came before".into()
            }
            (false, false) => "starts on a whole sentence, but ends mid-thought".into(),
        },
    );
    if let (Some(l), Some(t)) = (c.loudness, typical_loudness) {
        add(
            Signal::Energy,
            15.0,
            loud_rank[k],
            format!("{:+.1} LU against the talk's typical loudness", l - t),
        );
    }
    if let Some(t) = typical_pace {
        add(
            Signal::Pace,
            10.0,
            pace_rank[k],
            format!("{:.1} words a second against a typical {t:.1}", c.pace),
        );
    }
    add(
        Signal::Topic,
        25.0,
        topic_rank[k],
        "close to what the whole talk is about".into(),
    );
    if c.turns > 0 {
        add(
            Signal::Dialogue,
            5.0,
            (c.turns as f64 / 2.0).min(1.0),
            format!("{} change(s) of speaker", c.turns),
        );
    }
    if c.reaction > 0.0 {
        add(
            Signal::Reaction,
            10.0,
            (c.reaction / 2.0).min(1.0),
            format!(
                "{:.1} s of non-speech sound (laughter, applause?) at or right after its end",
                c.reaction
            ),
        );
    }
    let score: u32 = reasons
        .iter()
        .filter_map(|r| r.points)
        .sum::<u32>()
        .min(100);
    reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
    let highlight = Highlight {
        start: c.start,
        end: c.end,
        // A clause of the clip's own words that says most; its opening
        // line when none does.
        title: {
            let texts: Vec<&str> = sentences[c.first..=c.last]
                .iter()
                .map(|s| s.text.as_str())
                .collect();
            title_from(&texts, weight).unwrap_or_else(|| title_of(&opening.text))
        },
        hook: opening.text.clone(),
        score,
        reasons,
    };
    (score, highlight)
}

/// How many highlights to aim for: [`PER_HOUR`] per hour of speech, at
/// least [`MIN_HIGHLIGHTS`].
pub(crate) fn highlight_target(sentences: &[Sentence]) -> usize {
    let speech_hours: f64 = sentences.iter().map(Sentence::duration).sum::<f64>() / 3600.0;
    ((speech_hours * PER_HOUR).ceil() as usize).max(MIN_HIGHLIGHTS)
}

/// Whether two candidates share more than [`MAX_OVERLAP`] of the shorter.
pub(crate) fn overlap_too_much(a: &Highlight, b: &Highlight) -> bool {
    let shared = (a.end.min(b.end) - a.start.max(b.start)).max(0.0);
    shared > MAX_OVERLAP * (a.end - a.start).min(b.end - b.start)
}

fn mean_loudness(signals: &Signals<'_>, start: f64, end: f64) -> Option<f64> {
    let step = signals.loudness_interval;
    if step <= 0.0 {
        return None;
    }
    let a = (start / step).floor().max(0.0) as usize;
    let b = ((end / step).ceil() as usize).min(signals.loudness.len());
    let values: Vec<f64> = signals
        .loudness
        .get(a..b)?
        .iter()
        .flatten()
        .copied()
        .collect();
    if values.is_empty() {
        return None;
    }
    // Mean of the energy, not of the decibels.
    let power = values.iter().map(|l| 10f64.powf(l / 10.0)).sum::<f64>() / values.len() as f64;
    Some(10.0 * power.log10())
}

/// Seconds of audible non-speech inside the last two seconds of
/// `start..end` or the two seconds after it.
fn reaction_after(noise: &[(f64, f64)], start: f64, end: f64) -> f64 {
    let (a, b) = ((end - 2.0).max(start), end + 2.0);
    noise
        .iter()
        .map(|&(s, e)| (e.min(b) - s.max(a)).max(0.0))
        .sum()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Each candidate's share of candidates it beats on `key`, 0-1.
fn ranks(candidates: &[Candidate], key: impl Fn(&Candidate) -> f64) -> Vec<f64> {
    let mut values: Vec<f64> = candidates.iter().map(&key).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len().max(2) - 1;
    candidates
        .iter()
        .map(|c| {
            let v = key(c);
            values.partition_point(|x| *x < v) as f64 / n as f64
        })
        .collect()
}

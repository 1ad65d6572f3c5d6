//! The `builtin` analysis: no network, no LLM. Sentence embeddings (MiniLM)
//! and the signals earlier stages measured.
//!
//! - **Chapters**: TextTiling (Hearst 1997) over sentence embeddings: the
//!   similarity of the [`BLOCK`] sentences before and after each gap, deep
//!   valleys become boundaries, no chapter shorter than [`MIN_CHAPTER`].
//!   Titled by the chapter's most distinctive keywords.
//! - **Summary**: the sentences closest to the whole talk's centroid
//!   (centrality ranking), in the order they were said.
//! - **Highlights**: every run of whole sentences between the job's
//!   minimum and maximum length is scored from signals with reasons, and
//!   the best are kept without overlapping each other by more than half.
//!   None runs across a chapter boundary.
//!
//! Written here rather than taken from a crate: no Rust crate does
//! TextTiling or highlight scoring over embeddings; the parts are small.

use std::collections::HashMap;

use serde::Serialize;

use super::sentences::Sentence;
use crate::text::embed::{DIM, Embedding, similarity};

/// Sentences on each side of a gap in TextTiling.
const BLOCK: usize = 3;
/// Shortest chapter, seconds.
pub(crate) const MIN_CHAPTER: f64 = 60.0;
/// Highlights per hour of speech to aim for (the issue asks for at least 8
/// where the material allows).
const PER_HOUR: f64 = 12.0;
/// Fewest highlights to aim for when the material allows.
const MIN_HIGHLIGHTS: usize = 3;
/// Most a kept highlight may overlap another, as a share of the shorter.
const MAX_OVERLAP: f64 = 0.5;
/// Sentences in the summary at most.
const SUMMARY_SENTENCES: usize = 5;
/// Keywords listed.
pub(crate) const KEYWORDS: usize = 10;

/// What the highlight scorer reads besides the sentences.
pub(crate) struct Signals<'a> {
    /// Momentary loudness (LUFS) every `loudness_interval` seconds; `None`
    /// where silent.
    pub loudness: &'a [Option<f64>],
    pub loudness_interval: f64,
    /// Audible stretches that are not speech (laughter, applause, music).
    pub noise: &'a [(f64, f64)],
}

/// Highlight lengths, seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lengths {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Analysis {
    pub summary: String,
    pub chapters: Vec<Chapter>,
    pub keywords: Vec<Keyword>,
    pub highlights: Vec<Highlight>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Chapter {
    pub title: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Keyword {
    pub word: String,
    pub count: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct Highlight {
    pub start: f64,
    pub end: f64,
    pub title: String,
    /// The line it opens with.
    pub hook: String,
    /// 0-100.
    pub score: u32,
    /// What raised the score, strongest first.
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Reason {
    /// `hook`, `question`, `standalone`, `energy`, `pace`, `topic`,
    /// `dialogue` or `reaction`; `model` for a reason an LLM gave.
    pub signal: &'static str,
    /// Points out of 100 it added; absent for a model's reasons (the model
    /// scores the whole candidate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    pub detail: String,
}

pub(crate) fn analyse(
    sentences: &[Sentence],
    embeddings: &[Embedding],
    signals: &Signals<'_>,
    lengths: Lengths,
) -> Analysis {
    assert_eq!(sentences.len(), embeddings.len());
    if sentences.is_empty() {
        return Analysis::default();
    }
    let centroid = mean(embeddings);
    let centrality: Vec<f32> = embeddings
        .iter()
        .map(|e| similarity(e, &centroid))
        .collect();
    let boundaries = chapter_boundaries(sentences, embeddings);
    let chapters = titled_chapters(sentences, &boundaries);
    Analysis {
        summary: summary(sentences, &centrality),
        keywords: keywords(sentences),
        highlights: highlights(sentences, &boundaries, &centrality, signals, lengths),
        chapters,
    }
}

fn mean(vectors: &[Embedding]) -> Embedding {
    let mut sum = [0.0f32; DIM];
    for v in vectors {
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.map(|x| x / norm)
}

/// Indices of the sentences that open a new chapter (never 0).
fn chapter_boundaries(sentences: &[Sentence], embeddings: &[Embedding]) -> Vec<usize> {
    let n = sentences.len();
    if n < 2 * BLOCK {
        return Vec::new();
    }
    // gap[i]: between sentence i-1 and i.
    let mut gap = vec![1.0f32; n];
    for (i, g) in gap.iter_mut().enumerate().skip(1) {
        let before = mean(&embeddings[i.saturating_sub(BLOCK)..i]);
        let after = mean(&embeddings[i..(i + BLOCK).min(n)]);
        *g = similarity(&before, &after);
    }
    // Depth: how far the similarity climbs on both sides of the valley.
    let mut depth = vec![0.0f32; n];
    for i in 1..n {
        let mut left = gap[i];
        let mut k = i;
        while k > 1 && gap[k - 1] >= left {
            left = gap[k - 1];
            k -= 1;
        }
        let mut right = gap[i];
        let mut k = i;
        while k + 1 < n && gap[k + 1] >= right {
            right = gap[k + 1];
            k += 1;
        }
        depth[i] = (left - gap[i]) + (right - gap[i]);
    }
    let depths = &depth[1..];
    let m = depths.iter().sum::<f32>() / depths.len() as f32;
    let sd = (depths.iter().map(|d| (d - m).powi(2)).sum::<f32>() / depths.len() as f32).sqrt();
    // Hearst's liberal cutoff: deeper than the mean less half a deviation.
    let cutoff = (m - sd / 2.0).max(0.05);
    let mut candidates: Vec<usize> = (1..n).filter(|&i| depth[i] > cutoff).collect();
    candidates.sort_by(|&a, &b| depth[b].total_cmp(&depth[a]));
    let mut chosen: Vec<usize> = Vec::new();
    let start = sentences[0].start;
    let end = sentences[n - 1].end;
    for c in candidates {
        let at = sentences[c].start;
        let mut edges: Vec<f64> = chosen.iter().map(|&k| sentences[k].start).collect();
        edges.extend([start, end]);
        if edges.iter().all(|&e| (at - e).abs() >= MIN_CHAPTER) {
            chosen.push(c);
        }
    }
    chosen.sort_unstable();
    chosen
}

fn titled_chapters(sentences: &[Sentence], boundaries: &[usize]) -> Vec<Chapter> {
    let mut edges = vec![0];
    edges.extend_from_slice(boundaries);
    edges.push(sentences.len());
    let parts: Vec<&[Sentence]> = edges.windows(2).map(|w| &sentences[w[0]..w[1]]).collect();
    // Words distinctive of a chapter: frequent in it, rare in the others.
    let counts: Vec<HashMap<String, usize>> = parts.iter().map(|p| word_counts(p)).collect();
    parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let mut scored: Vec<(f64, &String)> = counts[k]
                .iter()
                .map(|(w, &c)| {
                    let elsewhere = counts.iter().filter(|other| other.contains_key(w)).count();
                    let idf = (parts.len() as f64 / elsewhere as f64).ln() + 1.0;
                    (c as f64 * idf, w)
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            let words: Vec<&str> = scored.iter().take(3).map(|(_, w)| w.as_str()).collect();
            let title = match words.as_slice() {
                [] => format!("Part {}", k + 1),
                [a] => capitalise(a),
                [rest @ .., last] => format!("{} and {last}", capitalise(&rest.join(", "))),
            };
            Chapter {
                title,
                start: part[0].start,
                end: part[part.len() - 1].end,
            }
        })
        .collect()
}

fn summary(sentences: &[Sentence], centrality: &[f32]) -> String {
    let mut order: Vec<usize> = (0..sentences.len())
        .filter(|&i| sentences[i].words >= 5)
        .collect();
    if order.is_empty() {
        order = (0..sentences.len()).collect();
    }
    order.sort_by(|&a, &b| centrality[b].total_cmp(&centrality[a]));
    let take = (sentences.len() / 10).clamp(1, SUMMARY_SENTENCES);
    let mut picked: Vec<usize> = order.into_iter().take(take).collect();
    picked.sort_unstable();
    picked
        .iter()
        .map(|&i| sentences[i].text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn keywords(sentences: &[Sentence]) -> Vec<Keyword> {
    let mut counts: Vec<(String, usize)> = word_counts(sentences).into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .take(KEYWORDS)
        .map(|(word, count)| Keyword { word, count })
        .collect()
}

/// Content words (lower-case, no stop words, three letters or more).
fn word_counts(sentences: &[Sentence]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for s in sentences {
        for w in s.text.split_whitespace() {
            let w: String = w
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            if w.chars().count() < 3 || STOP_WORDS.contains(&w.as_str()) || w.parse::<f64>().is_ok()
            {
                continue;
            }
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    counts
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

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

fn highlights(
    sentences: &[Sentence],
    boundaries: &[usize],
    centrality: &[f32],
    signals: &Signals<'_>,
    lengths: Lengths,
) -> Vec<Highlight> {
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
    if candidates.is_empty() {
        return Vec::new();
    }
    let typical_loudness = median(candidates.iter().filter_map(|c| c.loudness).collect());
    let typical_pace = median(candidates.iter().map(|c| c.pace).collect());
    let loud_rank = ranks(&candidates, |c| c.loudness.unwrap_or(f64::MIN));
    let pace_rank = ranks(&candidates, |c| c.pace);
    let topic_rank = ranks(&candidates, |c| f64::from(c.topic));

    let mut scored: Vec<(u32, Highlight)> = candidates
        .iter()
        .enumerate()
        .map(|(k, c)| {
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
                    "question",
                    20.0,
                    1.0,
                    format!("opens with a question: \"{}\"", opening.text),
                );
            } else if let Some(phrase) = hook_phrase(&opening.text) {
                add("hook", 20.0, 1.0, format!("opens with a hook (\"{phrase}\")"));
            }
            let dangling = dangling_start(&opening.text);
            let clean_end = ends_cleanly(&closing.text);
            let standalone = match (dangling, clean_end) {
                (false, true) => 1.0,
                (false, false) | (true, true) => 0.4,
                (true, false) => 0.0,
            };
            add(
                "standalone",
                15.0,
                standalone,
                match (dangling, clean_end) {
                    (false, true) => "starts and ends on whole sentences".into(),
                    (true, _) => "ends on a whole sentence, but opens on a reference to what came before".into(),
                    (false, false) => "starts on a whole sentence, but ends mid-thought".into(),
                },
            );
            if let (Some(l), Some(t)) = (c.loudness, typical_loudness) {
                add(
                    "energy",
                    15.0,
                    loud_rank[k],
                    format!("{:+.1} LU against the talk's typical loudness", l - t),
                );
            }
            if let Some(t) = typical_pace {
                add(
                    "pace",
                    10.0,
                    pace_rank[k],
                    format!("{:.1} words a second against a typical {t:.1}", c.pace),
                );
            }
            add(
                "topic",
                25.0,
                topic_rank[k],
                "close to what the whole talk is about".into(),
            );
            if c.turns > 0 {
                add(
                    "dialogue",
                    5.0,
                    (c.turns as f64 / 2.0).min(1.0),
                    format!("{} change(s) of speaker", c.turns),
                );
            }
            if c.reaction > 0.0 {
                add(
                    "reaction",
                    10.0,
                    (c.reaction / 2.0).min(1.0),
                    format!(
                        "{:.1} s of non-speech sound (laughter, applause?) at or right after its end",
                        c.reaction
                    ),
                );
            }
            let score: u32 = reasons.iter().filter_map(|r| r.points).sum::<u32>().min(100);
            reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
            let highlight = Highlight {
                start: c.start,
                end: c.end,
                title: title_of(&opening.text),
                hook: opening.text.clone(),
                score,
                reasons,
            };
            (score, highlight)
        })
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

/// Openers that promise a payoff.
const HOOKS: &[&str] = &[
    "here's the thing",
    "here is the thing",
    "the secret",
    "the truth is",
    "the problem is",
    "the key is",
    "the reason",
    "let me tell you",
    "you won't believe",
    "you will not believe",
    "imagine",
    "what if",
    "the biggest",
    "the most important",
    "the first thing",
    "nobody tells you",
    "the mistake",
    "i learned",
    "the lesson",
    "here's why",
    "here is why",
    "here's how",
    "here is how",
];

fn hook_phrase(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase().replace('’', "'");
    HOOKS.iter().find(|h| lower.contains(*h)).copied()
}

/// Opens with a word that points back at something unsaid.
fn dangling_start(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    matches!(
        first.as_str(),
        "and"
            | "but"
            | "so"
            | "because"
            | "then"
            | "also"
            | "or"
            | "which"
            | "that"
            | "this"
            | "it"
            | "they"
            | "he"
            | "she"
            | "those"
            | "these"
            | "there"
    )
}

fn ends_cleanly(text: &str) -> bool {
    text.trim_end()
        .trim_end_matches(['"', '\'', ')', '”', '’'])
        .ends_with(['.', '?', '!'])
}

/// The opening line, cut to eight words.
fn title_of(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= 8 {
        return text.trim_end_matches(['.', ',', ';', ':']).to_owned();
    }
    format!(
        "{}…",
        words[..8].join(" ").trim_end_matches(['.', ',', ';', ':'])
    )
}

/// English function words, left out of keywords and chapter titles.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "are",
    "but",
    "not",
    "you",
    "all",
    "any",
    "can",
    "had",
    "her",
    "was",
    "one",
    "our",
    "out",
    "has",
    "have",
    "him",
    "his",
    "how",
    "its",
    "may",
    "new",
    "now",
    "old",
    "see",
    "two",
    "way",
    "who",
    "did",
    "get",
    "got",
    "let",
    "say",
    "she",
    "too",
    "use",
    "that",
    "this",
    "with",
    "they",
    "them",
    "then",
    "than",
    "there",
    "their",
    "what",
    "when",
    "where",
    "which",
    "while",
    "will",
    "would",
    "could",
    "should",
    "been",
    "being",
    "were",
    "from",
    "into",
    "onto",
    "about",
    "after",
    "again",
    "also",
    "just",
    "like",
    "some",
    "such",
    "very",
    "more",
    "most",
    "much",
    "many",
    "only",
    "other",
    "over",
    "same",
    "each",
    "both",
    "few",
    "here",
    "these",
    "those",
    "your",
    "yours",
    "mine",
    "ours",
    "we're",
    "you're",
    "they're",
    "it's",
    "i'm",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "won't",
    "isn't",
    "aren't",
    "wasn't",
    "there's",
    "that's",
    "what's",
    "let's",
    "i've",
    "we've",
    "you've",
    "i'll",
    "we'll",
    "you'll",
    "know",
    "think",
    "going",
    "really",
    "well",
    "yeah",
    "okay",
    "right",
    "because",
    "does",
    "doing",
    "done",
    "make",
    "made",
    "want",
    "need",
    "thing",
    "things",
    "something",
    "anything",
    "everything",
    "nothing",
    "said",
    "says",
    "come",
    "came",
    "take",
    "took",
    "give",
    "gave",
    "look",
    "even",
    "ever",
    "every",
    "still",
    "yet",
    "why",
    "own",
    "off",
    "under",
    "upon",
    "through",
    "between",
    "before",
    "until",
    "against",
    "among",
    "down",
    "back",
    "able",
    "kind",
    "sort",
    "lot",
    "lots",
    "actually",
    "maybe",
    "quite",
    "pretty",
    "gonna",
    "wanna",
    "um",
    "uh",
    "keep",
    "keeps",
    "kept",
    "goes",
    "went",
    "put",
    "tell",
    "told",
    "call",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(start: f64, end: f64, text: &str, speaker: &str) -> Sentence {
        Sentence {
            start,
            end,
            text: text.into(),
            words: text.split_whitespace().count(),
            speaker: Some(speaker.into()),
        }
    }

    /// An embedding pointing along axis `k` (topics are orthogonal).
    fn topic(k: usize) -> Embedding {
        let mut e = [0.0; DIM];
        e[k] = 1.0;
        e
    }

    #[test]
    fn chapters_break_where_the_topic_changes() {
        // Ten sentences on one topic, ten on another, 10 s each.
        let mut sentences = Vec::new();
        let mut embeddings = Vec::new();
        for i in 0..20 {
            let (text, k) = if i < 10 {
                ("Interest rates and inflation keep rising this year.", 0)
            } else {
                ("Our garden tomatoes need water and sunlight daily.", 1)
            };
            sentences.push(sentence(i as f64 * 10.0, i as f64 * 10.0 + 9.0, text, "S1"));
            embeddings.push(topic(k));
        }
        let a = analyse(
            &sentences,
            &embeddings,
            &Signals {
                loudness: &[],
                loudness_interval: 0.1,
                noise: &[],
            },
            Lengths {
                min: 15.0,
                max: 60.0,
            },
        );
        assert_eq!(a.chapters.len(), 2, "{:?}", a.chapters);
        assert_eq!(a.chapters[1].start, 100.0);
        let first = a.chapters[0].title.to_lowercase();
        let second = a.chapters[1].title.to_lowercase();
        assert!(
            ["interest", "rates", "inflation", "rising"]
                .iter()
                .any(|w| first.contains(w))
                && !second.contains("inflation"),
            "{:?}",
            a.chapters
        );
        assert!(
            ["garden", "tomatoes", "water", "sunlight", "daily"]
                .iter()
                .any(|w| second.contains(w))
                && !first.contains("garden"),
            "{:?}",
            a.chapters
        );
        assert!(!a.summary.is_empty());
        assert!(a.keywords.iter().any(|k| k.word == "rates"));
    }

    #[test]
    fn highlights_are_whole_sentences_in_range_and_barely_overlap() {
        let mut sentences = Vec::new();
        let mut embeddings = Vec::new();
        for i in 0..60 {
            let text = if i % 7 == 0 {
                "Why does this matter so much?"
            } else if i % 5 == 0 {
                "And then it went on."
            } else {
                "The budget decides what the city can build next year."
            };
            let speaker = if i % 4 == 0 { "S2" } else { "S1" };
            sentences.push(sentence(
                i as f64 * 6.0,
                i as f64 * 6.0 + 5.5,
                text,
                speaker,
            ));
            embeddings.push(topic(i % 3));
        }
        let loudness: Vec<Option<f64>> = (0..3600)
            .map(|k| Some(-23.0 + (k % 100) as f64 / 50.0))
            .collect();
        let noise = [(100.0, 102.0)];
        let a = analyse(
            &sentences,
            &embeddings,
            &Signals {
                loudness: &loudness,
                loudness_interval: 0.1,
                noise: &noise,
            },
            Lengths {
                min: 15.0,
                max: 60.0,
            },
        );
        assert!(a.highlights.len() >= MIN_HIGHLIGHTS, "{:?}", a.highlights);
        let starts: Vec<f64> = sentences.iter().map(|s| s.start).collect();
        let ends: Vec<f64> = sentences.iter().map(|s| s.end).collect();
        for h in &a.highlights {
            assert!(starts.contains(&h.start) && ends.contains(&h.end), "{h:?}");
            let len = h.end - h.start;
            assert!((15.0..=60.0).contains(&len), "{h:?}");
            assert!(h.score <= 100 && !h.reasons.is_empty());
            let sum: u32 = h.reasons.iter().filter_map(|r| r.points).sum();
            assert_eq!(sum.min(100), h.score, "the reasons add up to the score");
        }
        for i in 0..a.highlights.len() {
            for j in i + 1..a.highlights.len() {
                let (x, y) = (&a.highlights[i], &a.highlights[j]);
                let shared = (x.end.min(y.end) - x.start.max(y.start)).max(0.0);
                assert!(shared <= 0.5 * (x.end - x.start).min(y.end - y.start) + 1e-9);
            }
        }
        // Ranked best first.
        assert!(a.highlights.windows(2).all(|w| w[0].score >= w[1].score));
        // A question opener is worth its points.
        let question = a.highlights.iter().find(|h| h.hook.ends_with('?'));
        if let Some(q) = question {
            assert!(q.reasons.iter().any(|r| r.signal == "question"));
        }
    }

    #[test]
    fn nothing_said_gives_an_empty_analysis() {
        let a = analyse(
            &[],
            &[],
            &Signals {
                loudness: &[],
                loudness_interval: 0.1,
                noise: &[],
            },
            Lengths {
                min: 15.0,
                max: 60.0,
            },
        );
        assert!(a.chapters.is_empty() && a.highlights.is_empty() && a.summary.is_empty());
    }

    #[test]
    fn openers_and_endings_are_read() {
        assert!(dangling_start("And then we left."));
        assert!(!dangling_start("Budgets matter."));
        assert_eq!(
            hook_phrase("Here's the thing about rates."),
            Some("here's the thing")
        );
        assert!(ends_cleanly("It works."));
        assert!(!ends_cleanly("It works and"));
        assert_eq!(title_of("One two three."), "One two three");
        assert_eq!(
            title_of("one two three four five six seven eight nine ten"),
            "one two three four five six seven eight…"
        );
    }
}

//! The chunks' answers merged into one analysis: keywords counted in the
//! transcript, chapter starts de-duplicated across the overlaps, and
//! highlights fitted to the job's lengths, ranked and topped up from the
//! builtin scorer.

use std::collections::HashSet;

use super::prompts::ChunkAnswer;
use crate::analysis::{
    builtin::{self, Analysis, Chapter, Highlight, Keyword, Lengths, MIN_CHAPTER, Reason, Signal},
    sentences::Sentence,
};

/// Keywords as the model named them (de-duplicated, at most
/// [`builtin::KEYWORDS`]), with how often each was said.
pub(super) fn count_keywords(sentences: &[Sentence], keywords: Vec<String>) -> Vec<Keyword> {
    let text = format!(
        " {} ",
        sentences
            .iter()
            .map(|s| normalise(&s.text))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut seen = HashSet::new();
    keywords
        .into_iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty() && seen.insert(k.to_lowercase()))
        .take(builtin::KEYWORDS)
        .map(|word| {
            let needle = format!(" {} ", normalise(&word));
            let count = text.matches(&needle).count();
            Keyword { word, count }
        })
        .collect()
}

/// Lower case, letters and digits only, single spaces.
fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Chapter starts from every chunk, in order; a start within
/// [`MIN_CHAPTER`] of the one before (typically the same change seen by
/// two overlapping chunks) is dropped. The first chapter opens the talk.
pub(super) fn merge_chapters(sentences: &[Sentence], answers: &[ChunkAnswer]) -> Vec<Chapter> {
    let mut starts: Vec<(usize, &str)> = answers
        .iter()
        .flat_map(|a| a.chapters.iter())
        .map(|c| (c.first_sentence, c.title.trim()))
        .collect();
    starts.sort_by_key(|s| s.0);
    let mut kept: Vec<(usize, &str)> = Vec::new();
    for (first, title) in starts {
        match kept.last() {
            None => kept.push((0, title)),
            Some(&(previous, _))
                if sentences[first].start - sentences[previous].start < MIN_CHAPTER => {}
            Some(_) => kept.push((first, title)),
        }
    }
    kept.iter()
        .enumerate()
        .map(|(k, &(first, title))| {
            let last = kept.get(k + 1).map_or(sentences.len(), |n| n.0) - 1;
            Chapter {
                title: if title.is_empty() {
                    format!("Chapter {}", k + 1)
                } else {
                    title.to_owned()
                },
                start: sentences[first].start,
                end: sentences[last].end,
            }
        })
        .collect()
}

/// The chunks' highlights made to fit the job's lengths (whole sentences
/// dropped from the end, or added after it), best first,
/// none overlapping a better one by more than half; topped up from the
/// builtin scorer when the model found fewer than the target.
pub(super) fn merge_highlights(
    sentences: &[Sentence],
    answers: &[ChunkAnswer],
    lengths: Lengths,
    builtin: &Analysis,
    warnings: &mut Vec<String>,
) -> Vec<Highlight> {
    let mut proposed: Vec<Highlight> = Vec::new();
    let mut unfit = 0;
    for a in answers {
        for h in &a.highlights {
            let (first, last) = (h.first_sentence, h.last_sentence.max(h.first_sentence));
            let Some(last) = fit(sentences, first, last, lengths) else {
                unfit += 1;
                continue;
            };
            let opening = &sentences[first];
            proposed.push(Highlight {
                start: opening.start,
                end: sentences[last].end,
                title: h.title.trim().to_owned(),
                hook: opening.text.clone(),
                score: h.score.min(100),
                reasons: h
                    .reasons
                    .iter()
                    .map(|r| Reason {
                        signal: Signal::Model,
                        points: None,
                        detail: r.trim().to_owned(),
                    })
                    .collect(),
            });
        }
    }
    if unfit > 0 {
        warnings.push(format!(
            "{unfit} of the model's highlight candidates could not be fitted to {:.0}-{:.0} s and were left out",
            lengths.min, lengths.max
        ));
    }
    proposed.sort_by(|a, b| b.score.cmp(&a.score).then(a.start.total_cmp(&b.start)));
    let mut kept: Vec<Highlight> = Vec::new();
    for h in proposed {
        if !kept.iter().any(|k| builtin::overlap_too_much(&h, k)) {
            kept.push(h);
        }
    }
    let target = builtin::highlight_target(sentences);
    let mut added = 0;
    for h in &builtin.highlights {
        if kept.len() >= target {
            break;
        }
        if !kept.iter().any(|k| builtin::overlap_too_much(h, k)) {
            kept.push(h.clone());
            added += 1;
        }
    }
    if added > 0 {
        warnings.push(format!(
            "the model proposed too few highlights; {added} were added from the builtin scorer \
             (their reasons are signals, not `model`)"
        ));
    }
    kept.sort_by(|a, b| b.score.cmp(&a.score).then(a.start.total_cmp(&b.start)));
    kept
}

/// The last sentence of a clip from `first` that lasts between the bounds:
/// `last` itself, or fewer sentences if it runs long, or more if short.
pub(super) fn fit(
    sentences: &[Sentence],
    first: usize,
    last: usize,
    lengths: Lengths,
) -> Option<usize> {
    if first >= sentences.len() {
        return None;
    }
    let start = sentences[first].start;
    let length = |l: usize| sentences[l].end - start;
    let mut l = last.min(sentences.len() - 1);
    while l > first && length(l) > lengths.max {
        l -= 1;
    }
    while l + 1 < sentences.len() && length(l) < lengths.min && length(l + 1) <= lengths.max {
        l += 1;
    }
    (lengths.min..=lengths.max)
        .contains(&length(l))
        .then_some(l)
}

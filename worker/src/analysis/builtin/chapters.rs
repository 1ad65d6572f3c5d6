//! Chapters: TextTiling over sentence embeddings, each chapter titled by
//! its most distinctive words.

use std::collections::HashMap;

use super::{
    BLOCK, Chapter, MIN_CHAPTER,
    keywords::word_counts,
    mean,
    phrasing::{capitalise, title_from, title_of},
};
use crate::{
    analysis::sentences::Sentence,
    text::embed::{Embedding, similarity},
};

/// Indices of the sentences that open a new chapter (never 0).
pub(super) fn chapter_boundaries(sentences: &[Sentence], embeddings: &[Embedding]) -> Vec<usize> {
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

pub(super) fn titled_chapters(sentences: &[Sentence], boundaries: &[usize]) -> Vec<Chapter> {
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
            let scored: Vec<(f64, &String)> = counts[k]
                .iter()
                .map(|(w, &c)| {
                    let elsewhere = counts.iter().filter(|other| other.contains_key(w)).count();
                    let idf = (parts.len() as f64 / elsewhere as f64).ln() + 1.0;
                    (c as f64 * idf, w)
                })
                .collect();
            let weights: HashMap<&str, f64> = scored
                .iter()
                .map(|(score, w)| (w.as_str(), *score))
                .collect();
            let texts: Vec<&str> = part.iter().map(|s| s.text.as_str()).collect();
            // A clause of the chapter's own that says most of what sets it
            // apart; the opening line when none does.
            let title = title_from(&texts, |w| weights.get(w).copied().unwrap_or(0.0))
                .unwrap_or_else(|| match part.first() {
                    Some(s) => capitalise(&title_of(&s.text)),
                    None => format!("Part {}", k + 1),
                });
            Chapter {
                title,
                start: part[0].start,
                end: part[part.len() - 1].end,
            }
        })
        .collect()
}

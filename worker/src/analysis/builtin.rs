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
//!
//! Each analysis is a module: [`chapters`], [`summary`], [`keywords`] and
//! [`highlights`] (with [`phrasing`], how its lines read); their tuning is
//! here. What it produces is [`Analysis`], `analysis.json`'s shape in
//! `cutroom_core::outputs::analysis`.

pub(crate) use cutroom_core::outputs::analysis::{
    Analysis, Chapter, Highlight, Keyword, Reason, Signal,
};

use super::sentences::Sentence;
use crate::text::embed::{DIM, Embedding, similarity};

mod chapters;
mod highlights;
mod keywords;
mod phrasing;
mod summary;

use chapters::{chapter_boundaries, titled_chapters};
use highlights::highlights;
pub(crate) use highlights::{highlight_target, overlap_too_much};
pub(crate) use keywords::is_content_word;
use keywords::keywords;
use summary::summary;

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

#[cfg(test)]
mod tests;

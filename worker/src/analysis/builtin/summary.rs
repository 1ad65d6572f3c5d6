//! The summary: the sentences closest to what the whole talk is about.

use super::SUMMARY_SENTENCES;
use crate::analysis::sentences::Sentence;

pub(super) fn summary(sentences: &[Sentence], centrality: &[f32]) -> String {
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

//! The analysis stage's wording as `benches/wording.rs` measures it:
//! builtin's analysis of a transcript, then (with a model) the `local`
//! provider's titles and summary over it.

use std::time::Instant;

use super::{Models, plain_builtin, transcript_of};
use crate::analysis::{
    llm::{LlmClient, LlmConfig, Wire},
    wording,
};
use crate::wer::words;
use cutroom_core::config::WhisperQuant;

/// What one provider made of one talk.
#[derive(Debug, Default)]
pub struct Worded {
    pub summary: String,
    /// `(start, end, title)`.
    pub chapters: Vec<(f64, f64, String)>,
    pub highlights: Vec<(f64, f64, String)>,
    /// Titles and summaries the model was asked for, wrote, and had refused.
    pub asked: usize,
    pub written: usize,
    pub refused: usize,
    pub reasons: Vec<String>,
    /// Seconds of the builtin analysis (embeddings included).
    pub builtin_seconds: f64,
    /// Seconds of the model's wording (0 without a model).
    pub wording_seconds: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Models {
    /// Builtin's analysis of `lines` (`(start, end, text)` segments), worded
    /// by the model at `llm` (`(base_url, model)`) when given, with
    /// `in_flight` requests at a time.
    pub fn word(
        &self,
        lines: &[(f64, f64, String)],
        llm: Option<(&str, &str)>,
        in_flight: usize,
    ) -> anyhow::Result<Worded> {
        let transcript = transcript_of(lines);
        let engines = self.engines(2, WhisperQuant::F16)?;
        let started = Instant::now();
        let (found, mut analysis) = plain_builtin(&engines, &transcript)?;
        let mut out = Worded {
            builtin_seconds: started.elapsed().as_secs_f64(),
            ..Worded::default()
        };
        if let Some((base_url, model)) = llm {
            let mut config = LlmConfig::new(Wire::OpenAi, base_url, model, None);
            config.timeout = std::time::Duration::from_secs(300);
            // The operator's own server on loopback.
            if let Some(host) = base_url.split("://").nth(1) {
                config.private_hosts.insert(host.to_ascii_lowercase());
            }
            let client = LlmClient::new(config);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let worded = runtime.block_on(wording::word(
                &client,
                &found,
                &mut analysis,
                in_flight,
                |_, _| {},
            ));
            out.asked = worded.report.asked;
            out.written = worded.report.written;
            out.refused = worded.report.refused;
            out.reasons = worded.report.reasons;
            out.wording_seconds = worded.run.seconds;
            out.prompt_tokens = worded.run.usage.prompt_tokens;
            out.completion_tokens = worded.run.usage.completion_tokens;
        }
        out.summary = analysis.summary;
        out.chapters = analysis
            .chapters
            .into_iter()
            .map(|c| (c.start, c.end, c.title))
            .collect();
        out.highlights = analysis
            .highlights
            .into_iter()
            .map(|h| (h.start, h.end, h.title))
            .collect();
        Ok(out)
    }
}

/// ROUGE-L F1 of `candidate` against `reference`, on lower-case words. By hand: the longest common subsequence is a dozen lines,
/// and no maintained crate computes ROUGE.
pub fn rouge_l(candidate: &str, reference: &str) -> f64 {
    let (c, r) = (words(candidate), words(reference));
    if c.is_empty() || r.is_empty() {
        return 0.0;
    }
    let mut row = vec![0usize; r.len() + 1];
    for cw in &c {
        let mut diagonal = 0;
        for (j, rw) in r.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if cw == rw {
                diagonal + 1
            } else {
                row[j + 1].max(row[j])
            };
            diagonal = above;
        }
    }
    let lcs = row[r.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (p, rec) = (lcs / c.len() as f64, lcs / r.len() as f64);
    2.0 * p * rec / (p + rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_l_counts_the_longest_common_subsequence() {
        assert!((rouge_l("the cat sat", "The cat sat.") - 1.0).abs() < 1e-9);
        assert_eq!(rouge_l("dog", "the cat sat"), 0.0);
        assert_eq!(rouge_l("", "the cat sat"), 0.0);
        // The LCS is "the sat": precision 2/3, recall 2/4.
        let f = rouge_l("the dog sat", "the cat had sat");
        let (p, r) = (2.0 / 3.0, 0.5);
        assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-9, "{f}");
    }
}

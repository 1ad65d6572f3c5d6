//! Word error rate: how far a transcript is from the words really said,
//! for benchmarks that must show accuracy beside every speed figure.
//!
//! The rules follow the transcription tests (`pipeline/wer_tests.rs`) so
//! a benchmark and a test score the same text alike. No crate: the
//! normalisation is ours to choose, and a word-level edit distance is a
//! dozen lines (strsim's `generic_levenshtein` would add a dependency for
//! them and still leave the normalisation to us).

use std::fmt;

/// Word errors (substitutions, deletions, insertions) against the words of
/// the reference. Adds up across files: the corpus WER is all errors over
/// all reference words, not a mean of per-file rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wer {
    pub errors: usize,
    pub words: usize,
}

impl Wer {
    /// Scores `hypothesis` against `reference` after [`words`].
    pub fn score(reference: &str, hypothesis: &str) -> Self {
        let reference = words(reference);
        Self {
            errors: edit_distance(&reference, &words(hypothesis)),
            words: reference.len(),
        }
    }

    /// 0-1 (more than 1 when the hypothesis adds many words).
    pub fn rate(self) -> f64 {
        self.errors as f64 / self.words.max(1) as f64
    }
}

impl std::ops::Add for Wer {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            errors: self.errors + other.errors,
            words: self.words + other.words,
        }
    }
}

impl fmt::Display for Wer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}%", self.rate() * 100.0)
    }
}

/// Words as scored: lower case; punctuation and hyphens separate words;
/// an apostrophe stays only inside a word ("don't", not "'quoted'").
/// Titles Whisper abbreviates are spelled out, as the references (and
/// Whisper's own English normaliser) spell them.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('\u{2019}', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "mr" => "mister".to_owned(),
            "mrs" => "missus".to_owned(),
            "dr" => "doctor".to_owned(),
            w => w.to_owned(),
        })
        .collect()
}

/// Word-level Levenshtein distance, one row at a time (a 10-minute
/// transcript is about 1500 words: two rows, not a square).
fn edit_distance(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut row = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            row[j + 1] = (prev[j] + usize::from(r != h))
                .min(prev[j + 1] + 1)
                .min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[hypothesis.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(reference: &str, hypothesis: &str) -> (usize, usize) {
        let w = Wer::score(reference, hypothesis);
        (w.errors, w.words)
    }

    #[test]
    fn case_punctuation_and_titles_are_not_errors() {
        assert_eq!(score("and mister john", "And Mr. John."), (0, 3));
        assert_eq!(score("ill disposed", "ill-disposed"), (0, 2));
        assert_eq!(score("don't", "Don\u{2019}t"), (0, 1));
        assert_eq!(score("Ask not what", "ask, not what."), (0, 3));
    }

    #[test]
    fn words_ignore_case_punctuation_and_quotes() {
        assert_eq!(
            words("Mr. Dashwood's  'cold-hearted' man\u{2019}s \"ill\"-disposed!"),
            [
                "mister",
                "dashwood's",
                "cold",
                "hearted",
                "man's",
                "ill",
                "disposed"
            ]
        );
        assert!(words(" -- ... ").is_empty());
    }

    #[test]
    fn counts_substitutions_deletions_and_insertions() {
        assert_eq!(score("your country", "your county"), (1, 2));
        assert_eq!(score("can do for you", "can do you"), (1, 4));
        assert_eq!(score("a more a amiable", "a more amiable"), (1, 4));
        assert_eq!(score("he was", "he was not"), (1, 2));
        assert_eq!(score("he was", ""), (2, 2));
        assert_eq!(score("", "thank you"), (2, 0));
        let total = Wer::score("a b", "a") + Wer::score("c d", "c d");
        assert_eq!(
            (total.errors, total.words, total.to_string()),
            (1, 4, "25.0%".into())
        );
    }
}

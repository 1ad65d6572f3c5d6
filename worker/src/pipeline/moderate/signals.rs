//! The two signals moderation reads, fused per category: the toxicity
//! classifier ([`crate::text::toxicity`], which scores words) and the
//! exemplar bank ([`crate::text::meaning`], which scores what a sentence
//! means). A category both score takes the higher of the two: both are
//! calibrated so that 0.5 is their decision boundary (the classifier's
//! sigmoid; the bank's threshold fitted on its tune exemplars), so the
//! policy's thresholds mean the same for either, and a sentence either
//! signal is sure of is flagged.

use cutroom_core::moderation::Category;
use serde::Serialize;

use crate::{
    engines::Engines,
    text::{
        meaning::{CATEGORIES, Reading},
        toxicity::{self, LABELS},
    },
};

/// Which signal gave a category its score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Signal {
    /// The toxicity classifier (words).
    Classifier,
    /// The exemplar bank (meaning).
    Meaning,
}

/// One text's scores from both signals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scores {
    /// In the classifier's label order ([`LABELS`]).
    pub classifier: toxicity::Scores,
    /// `None` where the text was not embedded.
    pub meaning: Option<Reading>,
}

impl Scores {
    /// Scores of the classifier alone.
    #[cfg(test)]
    pub(crate) const fn classifier_only(classifier: toxicity::Scores) -> Self {
        Self {
            classifier,
            meaning: None,
        }
    }

    /// `category`'s fused score and the signal it came from; `None` when
    /// neither signal scores it.
    pub(crate) fn get(&self, category: Category) -> Option<(f32, Signal)> {
        let mut words = category
            .classifier_label()
            .and_then(|label| LABELS.iter().position(|l| *l == label))
            .map(|k| self.classifier[k]);
        // Words the bank's benign exemplars share ("kill the boss", "your
        // queen is going to die", news quoting an insult) count for less
        // the more the sentence means what those exemplars mean. Swearing
        // is words whatever it means.
        if let Some(m) = self.meaning
            && category != Category::Profanity
        {
            words = words.map(|w| w * (2.0 * (1.0 - m.benign)).min(1.0));
        }
        let meaning = self
            .meaning
            .zip(CATEGORIES.iter().position(|c| *c == category))
            .map(|(m, k)| m.scores[k]);
        match (words, meaning) {
            (Some(w), Some(m)) if m > w => Some((m, Signal::Meaning)),
            (Some(w), _) => Some((w, Signal::Classifier)),
            (None, Some(m)) => Some((m, Signal::Meaning)),
            (None, None) => None,
        }
    }
}

/// The categories moderation scores (core's [`Category::covered`]).
pub(crate) fn covered() -> impl Iterator<Item = Category> {
    Category::ALL.into_iter().filter(|c| c.covered())
}

/// Both signals' scores for each text. A text with no word the classifier
/// knows (another language, only names and numbers) is left unscored
/// (`None`): the classifier would score it as its padding, and the
/// embedder, trained on English, no better.
pub(crate) fn score_texts(
    engines: &Engines,
    texts: &[&str],
) -> anyhow::Result<Vec<Option<Scores>>> {
    let mut classifier = engines.toxicity()?;
    let known: Vec<usize> = (0..texts.len())
        .filter(|&i| classifier.known_words(texts[i]) > 0)
        .collect();
    let batch: Vec<&str> = known.iter().map(|&i| texts[i]).collect();
    let words = classifier.classify(&batch)?;
    let bank = engines.meaning()?;
    let embeddings = engines.sentence_embedder()?.embed(&batch)?;
    let mut out = vec![None; texts.len()];
    for ((i, w), e) in known.into_iter().zip(words).zip(&embeddings) {
        out[i] = Some(Scores {
            classifier: w,
            meaning: Some(bank.read(e)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_take_the_higher_signal() {
        // toxic, severe_toxic, obscene, threat, insult, identity_hate.
        let words = [0.3, 0.0, 0.9, 0.1, 0.6, 0.0];
        // harassment, hate, violence, sexual, self_harm.
        let meaning = Reading {
            scores: [0.2, 0.0, 0.8, 0.7, 0.1],
            benign: 0.1,
        };
        let s = Scores {
            classifier: words,
            meaning: Some(meaning),
        };
        assert_eq!(s.get(Category::Violence), Some((0.8, Signal::Meaning)));
        assert_eq!(s.get(Category::Harassment), Some((0.6, Signal::Classifier)));
        assert_eq!(s.get(Category::Profanity), Some((0.9, Signal::Classifier)));
        assert_eq!(s.get(Category::Sexual), Some((0.7, Signal::Meaning)));
        // Without embeddings, the meaning-only categories go unscored.
        let words_only = Scores::classifier_only(words);
        assert_eq!(words_only.get(Category::Sexual), None);
        assert_eq!(
            words_only.get(Category::Violence),
            Some((0.1, Signal::Classifier))
        );
        // A sentence that means what benign exemplars mean weighs the
        // classifier's words less, its swearing no less.
        let benign = Scores {
            classifier: words,
            meaning: Some(Reading {
                scores: [0.0; 5],
                benign: 0.75,
            }),
        };
        assert_eq!(
            benign.get(Category::Harassment),
            Some((0.3, Signal::Classifier))
        );
        assert_eq!(
            benign.get(Category::Profanity),
            Some((0.9, Signal::Classifier))
        );
        // The bank's categories are core's.
        let meaning_scored: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|c| c.meaning_scored())
            .collect();
        assert_eq!(meaning_scored, CATEGORIES);
        assert!(Category::ALL.iter().all(|c| c.covered()));
    }
}

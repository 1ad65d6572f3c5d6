//! Text toxicity: tox-block's BiLSTM classifier (Jigsaw's six labels)
//! through ONNX Runtime, with the word tokeniser it was trained with.
//!
//! The model and `toxicity-vocab.json` are made by the installer from the
//! PyPI package `tox-block` (see `models::pyconvert`). The tokeniser
//! reproduces `keras_preprocessing.text.Tokenizer.texts_to_sequences` and
//! `pad_sequences`: lower-case, every filter character becomes the split
//! character, split on that character only (Keras does not split on other
//! whitespace), words outside the `num_words` most frequent are dropped,
//! and sequences are padded and cut at the front to `max_len`. No crate
//! implements Keras' word tokeniser; it is a dozen lines.

use std::{collections::HashMap, path::Path};

use anyhow::{Context, bail};
use ndarray::Array2;
use ort::{session::Session, value::TensorRef};
use serde::Deserialize;

/// The model's labels, in its output order.
pub(crate) const LABELS: [&str; 6] = [
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
];

/// Texts per `session.run`.
const BATCH: usize = 32;

/// `toxicity-vocab.json`.
#[derive(Debug, Deserialize)]
struct Vocabulary {
    labels: Vec<String>,
    num_words: usize,
    max_len: usize,
    padding: String,
    truncating: String,
    lower: bool,
    filters: String,
    split: String,
    oov_token: Option<String>,
    word_index: HashMap<String, i64>,
}

/// The classifier, loaded once per worker.
pub(crate) struct Toxicity {
    session: Session,
    vocabulary: Vocabulary,
}

/// Raw sigmoid probabilities in [`LABELS`] order.
pub(crate) type Scores = [f32; 6];

impl Toxicity {
    pub(crate) fn open(
        library: &Path,
        model: &Path,
        vocabulary: &Path,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(vocabulary)
            .with_context(|| format!("reading {}", vocabulary.display()))?;
        let vocabulary: Vocabulary = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", vocabulary.display()))?;
        if vocabulary.labels != LABELS
            || vocabulary.padding != "pre"
            || vocabulary.truncating != "pre"
            || vocabulary.oov_token.is_some()
            || vocabulary.split.chars().count() != 1
        {
            bail!(
                "the toxicity vocabulary has labels {:?}, padding {}, truncating {}, \
                 oov_token {:?}, split {:?}: not what this tokeniser implements",
                vocabulary.labels,
                vocabulary.padding,
                vocabulary.truncating,
                vocabulary.oov_token,
                vocabulary.split
            );
        }
        let session = crate::onnx::session(library, model, threads)?;
        Ok(Self {
            session,
            vocabulary,
        })
    }

    /// Word ids of `text`, before padding.
    pub(crate) fn tokens(&self, text: &str) -> Vec<i64> {
        let v = &self.vocabulary;
        let split = v.split.chars().next().unwrap_or(' ');
        let text = if v.lower {
            text.to_lowercase()
        } else {
            text.to_owned()
        };
        let text: String = text
            .chars()
            .map(|c| if v.filters.contains(c) { split } else { c })
            .collect();
        text.split(split)
            .filter(|w| !w.is_empty())
            .filter_map(|w| v.word_index.get(w).copied())
            .filter(|&i| (i as usize) < v.num_words)
            .collect()
    }

    /// How many of `text`'s words the model knows: a text with none (a
    /// language it was not trained on, or no words) gets no meaningful
    /// score.
    pub(crate) fn known_words(&self, text: &str) -> usize {
        self.tokens(text).len()
    }

    /// Scores for each text.
    pub(crate) fn classify(&mut self, texts: &[&str]) -> anyhow::Result<Vec<Scores>> {
        let len = self.vocabulary.max_len;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let mut input = Array2::<i64>::zeros((chunk.len(), len));
            for (row, text) in chunk.iter().enumerate() {
                let ids = self.tokens(text);
                let kept = &ids[ids.len().saturating_sub(len)..];
                for (k, &id) in kept.iter().enumerate() {
                    input[[row, len - kept.len() + k]] = id;
                }
            }
            let outputs = self
                .session
                .run(ort::inputs!["tokens" => TensorRef::from_array_view(&input)?])
                .context("running the toxicity model")?;
            let (_, scores) = outputs["scores"]
                .try_extract_tensor::<f32>()
                .context("reading the toxicity scores")?;
            for row in scores.chunks_exact(LABELS.len()) {
                let mut s = [0.0; 6];
                s.copy_from_slice(row);
                out.push(s);
            }
        }
        Ok(out)
    }
}

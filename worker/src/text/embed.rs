//! Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) through ONNX Runtime,
//! tokenised by the `tokenizers` crate with the model's own
//! `tokenizer.json`. Mean-pooled over the real tokens (the attention mask
//! weights the mean: the packaged tokenizer pads, and pooling the padding
//! too gives wrong vectors), then L2-normalised, so a dot product is the
//! cosine similarity.

use std::path::Path;

use anyhow::{Context, anyhow};
use ndarray::Array2;
use ort::{session::Session, value::TensorRef};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Length of an embedding.
pub(crate) const DIM: usize = 384;
/// Tokens per text at most; sentence-transformers uses 256 for this model.
const MAX_TOKENS: usize = 256;
/// Texts per `session.run`.
const BATCH: usize = 32;

pub(crate) type Embedding = [f32; DIM];

pub(crate) struct SentenceEmbedder {
    session: Session,
    tokenizer: Tokenizer,
}

impl SentenceEmbedder {
    pub(crate) fn open(
        library: &Path,
        model: &Path,
        tokenizer: &Path,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let mut tokenizer = Tokenizer::from_file(tokenizer)
            .map_err(|e| anyhow!("reading the tokenizer {}: {e}", tokenizer.display()))?;
        // The file pads every text to 128 tokens and cuts there: pad each
        // batch to its longest text instead, and allow what the model was
        // tuned for.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow!("configuring the tokenizer: {e}"))?;
        let session = crate::onnx::session(library, model, threads)?;
        Ok(Self { session, tokenizer })
    }

    /// One unit vector per text.
    pub(crate) fn embed(&mut self, texts: &[&str]) -> anyhow::Result<Vec<Embedding>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let encodings = self
                .tokenizer
                .encode_batch(chunk.to_vec(), true)
                .map_err(|e| anyhow!("tokenising: {e}"))?;
            let len = encodings.first().map_or(0, |e| e.len());
            let shape = (chunk.len(), len);
            let mut ids = Array2::<i64>::zeros(shape);
            let mut mask = Array2::<i64>::zeros(shape);
            let types = Array2::<i64>::zeros(shape);
            for (row, e) in encodings.iter().enumerate() {
                for (k, (&id, &m)) in e.get_ids().iter().zip(e.get_attention_mask()).enumerate() {
                    ids[[row, k]] = i64::from(id);
                    mask[[row, k]] = i64::from(m);
                }
            }
            let outputs = self
                .session
                .run(ort::inputs![
                    "input_ids" => TensorRef::from_array_view(&ids)?,
                    "attention_mask" => TensorRef::from_array_view(&mask)?,
                    "token_type_ids" => TensorRef::from_array_view(&types)?,
                ])
                .context("running the sentence embedder")?;
            let (_, hidden) = outputs["last_hidden_state"]
                .try_extract_tensor::<f32>()
                .context("reading the sentence embeddings")?;
            for row in 0..chunk.len() {
                // The mean's direction is the sum's: normalise the sum.
                let mut sum = [0.0f32; DIM];
                for k in 0..len {
                    if mask[[row, k]] == 0 {
                        continue;
                    }
                    let at = (row * len + k) * DIM;
                    for (s, x) in sum.iter_mut().zip(&hidden[at..at + DIM]) {
                        *s += x;
                    }
                }
                let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                out.push(sum.map(|x| x / norm));
            }
        }
        Ok(out)
    }
}

/// Cosine similarity of two unit vectors.
pub(crate) fn similarity(a: &Embedding, b: &Embedding) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

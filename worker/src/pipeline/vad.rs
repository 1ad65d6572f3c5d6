//! Speech probabilities from Silero VAD (v6, ONNX) through ONNX Runtime.
//!
//! The model is recurrent: it reads 16 kHz audio in 512-sample (32 ms)
//! chunks, each with the previous chunk's last 64 samples in front, and
//! carries a `[2, batch, 128]` state from one chunk to the next. It returns
//! one speech probability per chunk; [`super::silence`] turns them into
//! intervals.
//!
//! To use more than one core the audio is cut into a few long pieces that
//! run side by side as one batch. Each piece starts [`WARM_UP`] early so its
//! state has settled by the time its own audio begins; the warm-up
//! probabilities are dropped.

use std::path::Path;

use ndarray::{Array2, Array3};
use ort::{session::Session, value::TensorRef};
use tokio_util::sync::CancellationToken;

/// Samples per chunk at 16 kHz.
pub(crate) const CHUNK: usize = 512;
const CONTEXT: usize = 64;
const STATE: usize = 128;
/// Chunks a piece reads before its own audio (about 2 s).
const WARM_UP: usize = 64;
/// Pieces shorter than this are not worth a batch row of their own.
const MIN_PIECE_CHUNKS: usize = 30 * 16_000 / CHUNK;

pub(crate) struct SileroVad {
    session: Session,
    batch: usize,
}

impl SileroVad {
    /// Opens the model; `batch` pieces run side by side (one per core is
    /// about right, the graph is small).
    pub fn open(runtime: &Path, model: &Path, batch: usize) -> anyhow::Result<Self> {
        Ok(Self {
            session: crate::onnx::session(runtime, model, 1)?,
            batch: batch.max(1),
        })
    }

    /// One probability per [`CHUNK`] of `samples` (16 kHz mono), the last
    /// chunk zero-padded. `Ok(None)` when `stop` fired.
    pub fn probabilities(
        &mut self,
        samples: &[f32],
        stop: &CancellationToken,
    ) -> anyhow::Result<Option<Vec<f32>>> {
        let chunks = samples.len().div_ceil(CHUNK);
        if chunks == 0 {
            return Ok(Some(Vec::new()));
        }
        let rows = self.batch.min(chunks.div_ceil(MIN_PIECE_CHUNKS)).max(1);
        let per_row = chunks.div_ceil(rows);
        // Row r covers chunks [r*per_row, (r+1)*per_row), reading from
        // `warm` chunks earlier.
        let pieces: Vec<(usize, usize, usize)> = (0..rows)
            .map(|r| {
                let own = r * per_row;
                let end = ((r + 1) * per_row).min(chunks);
                let warm = own.min(WARM_UP);
                (own - warm, own, end)
            })
            .collect();
        let steps = pieces
            .iter()
            .map(|(from, _, end)| end - from)
            .max()
            .unwrap_or(0);

        let mut out = vec![0.0f32; chunks];
        let mut state = Array3::<f32>::zeros((2, rows, STATE));
        let mut input = Array2::<f32>::zeros((rows, CONTEXT + CHUNK));
        let sr = ndarray::arr0(16_000i64);
        for step in 0..steps {
            if step % 256 == 0 && stop.is_cancelled() {
                return Ok(None);
            }
            for (row, (from, _, end)) in pieces.iter().enumerate() {
                let chunk = from + step;
                let mut line = input.row_mut(row);
                // The context is the previous chunk's tail: shift it in.
                let (context, body) = line
                    .as_slice_mut()
                    .expect("rows are contiguous")
                    .split_at_mut(CONTEXT);
                if step == 0 {
                    context.fill(0.0);
                } else {
                    context.copy_from_slice(&body[CHUNK - CONTEXT..]);
                }
                body.fill(0.0);
                if chunk < *end {
                    let start = chunk * CHUNK;
                    let take = &samples[start..(start + CHUNK).min(samples.len())];
                    body[..take.len()].copy_from_slice(take);
                }
            }
            let outputs = self.session.run(ort::inputs![
                "input" => TensorRef::from_array_view(&input)?,
                "state" => TensorRef::from_array_view(&state)?,
                "sr" => TensorRef::from_array_view(&sr)?,
            ])?;
            let (_, probs) = outputs["output"].try_extract_tensor::<f32>()?;
            for (row, (from, own, end)) in pieces.iter().enumerate() {
                let chunk = from + step;
                if chunk >= *own && chunk < *end {
                    out[chunk] = probs[row];
                }
            }
            let (_, next) = outputs["stateN"].try_extract_tensor::<f32>()?;
            state
                .as_slice_mut()
                .expect("state is contiguous")
                .copy_from_slice(next);
        }
        Ok(Some(out))
    }
}

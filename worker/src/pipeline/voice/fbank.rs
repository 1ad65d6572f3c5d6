//! Kaldi log-mel filterbank ("fbank") features, as the CAM++ speaker
//! embedder was trained with.
//!
//! CAM++ (3D-Speaker / WeSpeaker) reads 80 log-mel energies per 10 ms frame
//! computed by Kaldi's `compute-fbank-feats` (through
//! `torchaudio.compliance.kaldi.fbank` or kaldi-native-fbank), mean-normalised
//! per utterance. A near miss (another mel scale, window or padding) shifts
//! every embedding, so this module reproduces Kaldi's arithmetic step by step
//! rather than approximating it; no maintained Rust crate does so without
//! building Kaldi or kaldi-native-fbank's C++ through cmake.
//!
//! It matches kaldi-native-fbank's `FbankOptions` (checked against 1.23 on
//! speech and synthetic signals: frame counts equal, log values within
//! 1e-3) with:
//!
//! - `frame_opts`: `samp_freq = 16000`, `frame_length_ms = 25` (400
//!   samples), `frame_shift_ms = 10` (160), `snip_edges = true`,
//!   `dither = 0`, `remove_dc_offset = true`, `preemph_coeff = 0.97`,
//!   `window_type = "povey"`, `round_to_power_of_two = true` (512-point FFT);
//! - `mel_opts`: `num_bins = 80`, `low_freq = 20`, `high_freq = 0`
//!   (Nyquist), Kaldi's mel scale `1127 ln(1 + f / 700)`, `htk_mode = false`,
//!   `is_librosa = false`;
//! - `use_energy = false`, `use_power = true`, `use_log_fbank = true` with
//!   the floor `f32::EPSILON`.
//!
//! Every step runs in single precision in Kaldi's order, except the FFT,
//! which runs in double: kaldi-native-fbank's own float FFT (kissfft in 1.23,
//! Ooura's in double before) differs from any other float FFT by rounding
//! alone, and double keeps this side nearer the exact spectrum. What is left
//! of the difference sits in near-silent bins (the lowest, which
//! pre-emphasis empties), where float rounding of the samples dominates.
//!
//! Samples are taken as given, like Kaldi: its own tools pass int16-scaled
//! values (`x * 32768`). The scale only adds a constant to every log value,
//! which [`subtract_mean`] (per-utterance cepstral mean normalisation, as
//! CAM++ applies) removes, except where a frame falls to the log floor.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Mel bins per frame.
pub const NUM_BINS: usize = 80;
const SAMPLE_RATE: f32 = 16_000.0;
/// Samples per frame (25 ms).
pub const FRAME_LENGTH: usize = 400;
/// Samples between frames (10 ms).
pub const FRAME_SHIFT: usize = 160;
/// The frame zero-padded to a power of two.
const PADDED: usize = 512;
/// FFT bins the mel banks read: Kaldi's `num_fft_bins`, which leaves out the
/// Nyquist bin.
const FFT_BINS: usize = PADDED / 2;
const PREEMPHASIS: f32 = 0.97;
const LOW_FREQ: f32 = 20.0;

/// Frames Kaldi cuts from `samples` samples with `snip_edges = true`: one per
/// [`FRAME_SHIFT`] that fits a whole [`FRAME_LENGTH`] window.
pub fn num_frames(samples: usize) -> usize {
    if samples < FRAME_LENGTH {
        0
    } else {
        1 + (samples - FRAME_LENGTH) / FRAME_SHIFT
    }
}

/// Kaldi's `MelScale`, in single precision as Kaldi computes it.
fn mel_scale(freq: f32) -> f32 {
    1127.0f32 * (1.0f32 + freq / 700.0f32).ln()
}

/// One triangular filter: its weights over FFT bins `first..first + len`.
struct MelBin {
    first: usize,
    weights: Vec<f32>,
}

/// The fbank front end: a planned FFT, the window and the mel banks, built
/// once and shared by every [`Fbank::compute`].
pub struct Fbank {
    fft: Arc<dyn RealToComplex<f64>>,
    /// The povey window, [`FRAME_LENGTH`] long.
    window: Vec<f32>,
    bins: Vec<MelBin>,
}

impl Default for Fbank {
    fn default() -> Self {
        Self::new()
    }
}

impl Fbank {
    pub fn new() -> Self {
        // Kaldi's "povey" window: a Hann over N - 1, raised to 0.85, computed
        // in double precision and stored as float.
        let a = 2.0 * std::f64::consts::PI / (FRAME_LENGTH - 1) as f64;
        let window = (0..FRAME_LENGTH)
            .map(|i| (0.5 - 0.5 * (a * i as f64).cos()).powf(0.85) as f32)
            .collect();

        // Kaldi's `MelBanks`, in its float arithmetic: evenly spaced mel
        // points from `low_freq` to Nyquist, and each FFT bin weighted by
        // where its centre frequency's mel falls in the triangle.
        let nyquist = 0.5 * SAMPLE_RATE;
        let fft_bin_width = SAMPLE_RATE / PADDED as f32;
        let mel_low = mel_scale(LOW_FREQ);
        let mel_high = mel_scale(nyquist);
        let mel_delta = (mel_high - mel_low) / (NUM_BINS + 1) as f32;
        let bins = (0..NUM_BINS)
            .map(|bin| {
                let left = mel_low + bin as f32 * mel_delta;
                let center = mel_low + (bin + 1) as f32 * mel_delta;
                let right = mel_low + (bin + 2) as f32 * mel_delta;
                let mut first = None;
                let mut weights = Vec::new();
                for i in 0..FFT_BINS {
                    let mel = mel_scale(fft_bin_width * i as f32);
                    if mel > left && mel < right {
                        let weight = if mel <= center {
                            (mel - left) / (center - left)
                        } else {
                            (right - mel) / (right - center)
                        };
                        // The bins in a triangle are contiguous (mel rises
                        // with frequency), so push in order.
                        first.get_or_insert(i);
                        weights.push(weight);
                    }
                }
                let first =
                    first.expect("at 16 kHz and 512 points every mel bin covers an FFT bin");
                MelBin { first, weights }
            })
            .collect();

        Self {
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(PADDED),
            window,
            bins,
        }
    }

    /// Log-mel energies of 16 kHz mono `samples`, one row per frame
    /// ([`num_frames`] of them; none for fewer than [`FRAME_LENGTH`]).
    pub fn compute(&self, samples: &[f32]) -> Vec<[f32; NUM_BINS]> {
        let count = num_frames(samples.len());
        let mut out = Vec::with_capacity(count);
        if count == 0 {
            return out;
        }
        let mut frame = [0.0f32; FRAME_LENGTH];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = [0.0f32; FFT_BINS];
        for f in 0..count {
            let start = f * FRAME_SHIFT;
            frame.copy_from_slice(&samples[start..start + FRAME_LENGTH]);

            // remove_dc_offset: a float sum in order, as Kaldi's loop.
            let mut sum = 0.0f32;
            for x in frame.iter() {
                sum += *x;
            }
            let mean = sum / FRAME_LENGTH as f32;
            for x in frame.iter_mut() {
                *x -= mean;
            }
            // Pre-emphasis, from the end so each uses the sample before it
            // unchanged; the first sample against itself.
            for i in (1..FRAME_LENGTH).rev() {
                frame[i] -= PREEMPHASIS * frame[i - 1];
            }
            frame[0] -= PREEMPHASIS * frame[0];
            for (x, w) in frame.iter_mut().zip(&self.window) {
                *x *= w;
            }
            // Zero-padded to 512; the padding is written anew each frame as
            // the FFT may use its input as scratch.
            for (d, x) in input.iter_mut().zip(&frame) {
                *d = f64::from(*x);
            }
            input[FRAME_LENGTH..].fill(0.0);

            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("buffers come from the plan");
            // Power, from the spectrum rounded to float as Kaldi holds it;
            // `power` stops short of the Nyquist bin, which no filter reads.
            for (p, c) in power.iter_mut().zip(&spectrum) {
                let (re, im) = (c.re as f32, c.im as f32);
                *p = re * re + im * im;
            }

            let mut row = [0.0f32; NUM_BINS];
            for (value, bin) in row.iter_mut().zip(&self.bins) {
                let mut energy = 0.0f32;
                for (w, p) in bin.weights.iter().zip(&power[bin.first..]) {
                    energy += w * p;
                }
                *value = energy.max(f32::EPSILON).ln();
            }
            out.push(row);
        }
        out
    }
}

/// Per-utterance cepstral mean normalisation: subtracts from each bin its
/// mean over `frames` (no variance normalisation), as CAM++'s front end does.
pub fn subtract_mean(frames: &mut [[f32; NUM_BINS]]) {
    if frames.is_empty() {
        return;
    }
    let mut sums = [0.0f64; NUM_BINS];
    for row in frames.iter() {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
    }
    let n = frames.len() as f64;
    let means = sums.map(|s| (s / n) as f32);
    for row in frames.iter_mut() {
        for (v, m) in row.iter_mut().zip(&means) {
            *v -= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_snip_edges() {
        let fbank = Fbank::new();
        for (n, frames) in [(0, 0), (399, 0), (400, 1), (559, 1), (560, 2), (16_000, 98)] {
            assert_eq!(num_frames(n), frames, "{n} samples");
            assert_eq!(fbank.compute(&vec![0.1; n]).len(), frames, "{n} samples");
        }
    }

    #[test]
    fn a_tone_lights_up_its_mel_bin() {
        let fbank = Fbank::new();
        // 1 kHz for one second, int16-scaled.
        let samples: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 16_000.0)
            .collect();
        let frames = fbank.compute(&samples);
        let mid = &frames[50];
        let loudest = (0..NUM_BINS)
            .max_by(|&a, &b| mid[a].total_cmp(&mid[b]))
            .expect("80 bins");
        // mel(1000 Hz) = 1000.0; the centres are mel(20) + (b + 1) * delta
        // with mel(20) = 31.76 and delta = (mel(8000) - mel(20)) / 81 = 34.67,
        // so bin 27 (centre 1002.5 mel) is the nearest.
        assert_eq!(loudest, 27, "{mid:?}");
        // Far bins are orders of magnitude quieter (natural log).
        assert!(mid[27] - mid[70] > 10.0, "{mid:?}");
    }

    #[test]
    fn silence_and_dc_give_the_log_floor() {
        let fbank = Fbank::new();
        let floor = f32::EPSILON.ln();
        for level in [0.0, 0.5, -1000.0] {
            let frames = fbank.compute(&[level; 1600]);
            assert_eq!(frames.len(), 8);
            assert!(
                frames.iter().flatten().all(|v| *v == floor),
                "{level}: {:?}",
                frames[0]
            );
        }
    }

    #[test]
    fn mean_normalisation_centres_each_bin() {
        let mut frames = vec![[0.0f32; NUM_BINS]; 3];
        for (t, row) in frames.iter_mut().enumerate() {
            for (b, v) in row.iter_mut().enumerate() {
                *v = (t * 10 + b) as f32;
            }
        }
        subtract_mean(&mut frames);
        for (row, expected) in frames.iter().zip([-10.0, 0.0, 10.0]) {
            assert!(row.iter().all(|v| *v == expected), "{row:?}");
        }
        subtract_mean(&mut []);
    }
}

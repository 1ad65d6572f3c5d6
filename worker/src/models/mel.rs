//! The mel filterbank a ggml Whisper file carries.
//!
//! whisper.cpp does not compute its filters: it reads them from the model
//! file. OpenAI's are `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`
//! (Slaney mel scale, Slaney area normalisation); this is that function,
//! step by step in f64, with librosa's f32 rounding where it rounds.

/// The Slaney mel scale: linear below 1 kHz, logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// `n_mels` rows of `n_fft / 2 + 1` weights, row-major, from 0 Hz to the
/// Nyquist frequency.
pub fn filterbank(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let sr = f64::from(sample_rate);
    let n_freqs = n_fft / 2 + 1;
    // np.fft.rfftfreq(n_fft, d=1/sr)
    let bin_hz = 1.0 / (n_fft as f64 * (1.0 / sr));
    let fft_freqs: Vec<f64> = (0..n_freqs).map(|i| i as f64 * bin_hz).collect();
    // n_mels + 2 band edges, evenly spaced in mel (np.linspace).
    let (min_mel, max_mel) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let n_edges = n_mels + 2;
    let step = (max_mel - min_mel) / (n_edges - 1) as f64;
    let edges: Vec<f64> = (0..n_edges)
        .map(|i| {
            let mel = if i == n_edges - 1 {
                max_mel
            } else {
                i as f64 * step + min_mel
            };
            mel_to_hz(mel)
        })
        .collect();

    let mut weights = vec![0f32; n_mels * n_freqs];
    for (m, row) in weights.chunks_exact_mut(n_freqs).enumerate() {
        let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
        // Slaney normalisation: each triangle has unit area in Hz.
        let enorm = 2.0 / (hi - lo);
        for (w, &f) in row.iter_mut().zip(&fft_freqs) {
            let lower = -(lo - f) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            // librosa stores the triangle in f32, then scales it in f64.
            let tri = lower.min(upper).max(0.0) as f32;
            *w = (f64::from(tri) * enorm) as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`
    /// (librosa 0.11.0).
    #[test]
    fn matches_librosa() {
        let f = filterbank(16000, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        let at = |m: usize, k: usize| f[m * 201 + k];
        let known = [
            (0, 1, 0.024_862_594_902_515_41),
            (1, 1, 0.001_990_821_911_022_067),
            (1, 2, 0.022_871_771_827_340_126),
            (10, 11, 0.004_954_374_860_972_166),
            (40, 43, 0.014_735_566_452_145_576),
            (60, 93, 0.006_591_092_795_133_591),
            (79, 192, 0.003_164_711_873_978_376_4),
            (79, 199, 0.000_448_759_004_939_347_5),
        ];
        for (m, k, want) in known {
            assert_eq!(at(m, k), want as f32, "filter {m}, bin {k}");
        }
        assert_eq!(at(0, 0), 0.0);
        assert_eq!(at(79, 200), 0.0);
        assert_eq!(f.iter().filter(|w| **w != 0.0).count(), 391);
        let sum: f64 = f.iter().map(|w| f64::from(*w)).sum();
        assert!((sum - 1.999_024_092_387_117).abs() < 1e-9, "{sum}");
    }
}

//! The audio a cloud engine hears: the speech intervals one after
//! another, half a second of silence between them, encoded as Ogg Opus.
//! Silence, music and noise the VAD did not hear as speech are not sent
//! (they cost by the minute and are where models invent words), and the
//! engine's times are mapped back onto the source's timeline.

use std::path::Path;

use crate::pipeline::{audio::ANALYSIS_RATE, silence::Interval};

/// Silence between two intervals: long enough that an engine ends a
/// phrase there, short enough to cost little.
const SPACER_SECONDS: f64 = 0.5;
/// Opus bit rate for speech at 16 kHz: transparent for recognition, about
/// 14 MiB an hour (OpenAI takes 25 MB a request).
pub(crate) const KBPS: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Piece {
    /// Where it starts on the track and in the source, seconds.
    at: f64,
    source: f64,
    len: f64,
}

/// The speech, packed.
pub(crate) struct Track {
    pub samples: Vec<f32>,
    pieces: Vec<Piece>,
}

impl Track {
    /// Packs `speech` out of `audio` (16 kHz mono).
    pub fn new(audio: &[f32], speech: &[Interval]) -> Self {
        let rate = f64::from(ANALYSIS_RATE);
        let index = |t: f64| ((t * rate).round().max(0.0) as usize).min(audio.len());
        let spacer = (SPACER_SECONDS * rate) as usize;
        let mut samples = Vec::new();
        let mut pieces = Vec::new();
        for interval in speech {
            let (a, b) = (index(interval.start), index(interval.end));
            if b <= a {
                continue;
            }
            if !samples.is_empty() {
                samples.resize(samples.len() + spacer, 0.0);
            }
            pieces.push(Piece {
                at: samples.len() as f64 / rate,
                source: a as f64 / rate,
                len: (b - a) as f64 / rate,
            });
            samples.extend_from_slice(&audio[a..b]);
        }
        Self { samples, pieces }
    }

    /// Seconds of audio sent: what a cloud engine charges for.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(ANALYSIS_RATE)
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// A track time on the source's timeline. A time in a spacer belongs
    /// to the end of the piece before it; every time lands in a piece.
    pub fn to_source(&self, t: f64) -> f64 {
        let Some(first) = self.pieces.first() else {
            return t;
        };
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.at <= t)
            .unwrap_or(first);
        piece.source + (t - piece.at).clamp(0.0, piece.len)
    }
}

/// Writes a track's samples as Ogg Opus to `path` and returns its bytes.
pub(crate) fn encode(samples: &[f32], path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::pipeline::opus::encode(samples, KBPS, path)?;
    Ok(std::fs::read(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_packed_with_pauses_and_mapped_back() {
        let audio = vec![0.1f32; 16_000 * 20];
        let speech = [
            Interval {
                start: 1.0,
                end: 3.0,
            },
            Interval {
                start: 10.0,
                end: 11.5,
            },
        ];
        let track = Track::new(&audio, &speech);
        assert!((track.seconds() - 4.0).abs() < 1e-9, "{}", track.seconds());
        assert!((track.to_source(0.5) - 1.5).abs() < 1e-9);
        // In the pause: the end of the first interval.
        assert!((track.to_source(2.2) - 3.0).abs() < 1e-9);
        assert!((track.to_source(2.5) - 10.0).abs() < 1e-9);
        assert!((track.to_source(3.9) - 11.4).abs() < 1e-9);
        assert!((track.to_source(99.0) - 11.5).abs() < 1e-9);
        assert!(Track::new(&audio, &[]).is_empty());
    }
}

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
/// Audio one request carries at most: 20 minutes of speech is about
/// 4.7 MB of Opus, well under OpenAI's 25 MB a request, and long files are
/// heard in parallel.
pub(crate) const CHUNK_SECONDS: f64 = 1200.0;
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

    /// The speech cut into tracks of at most `max` seconds each, at the
    /// silences between intervals, so a cut never falls inside a word; an
    /// interval longer than `max` (20 minutes without a half-second pause)
    /// is cut every `max` seconds.
    pub fn chunks(audio: &[f32], speech: &[Interval], max: f64) -> Vec<Track> {
        let mut pieces = Vec::new();
        for iv in speech {
            let mut start = iv.start;
            while iv.end - start > max {
                pieces.push(Interval {
                    start,
                    end: start + max,
                });
                start += max;
            }
            pieces.push(Interval { start, end: iv.end });
        }
        let mut groups: Vec<Vec<Interval>> = Vec::new();
        let mut length = 0.0;
        for piece in pieces {
            let len = piece.end - piece.start;
            match groups.last_mut() {
                Some(group) if length + SPACER_SECONDS + len <= max => {
                    group.push(piece);
                    length += SPACER_SECONDS + len;
                }
                _ => {
                    groups.push(vec![piece]);
                    length = len;
                }
            }
        }
        groups
            .iter()
            .map(|g| Track::new(audio, g))
            .filter(|t| !t.is_empty())
            .collect()
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

    #[test]
    fn long_speech_is_cut_at_silences_into_chunks() {
        let audio = vec![0.1f32; 16_000 * 100];
        let iv = |start: f64, end: f64| Interval { start, end };
        // 10 s chunks: the first two intervals fit one (4 + 0.5 + 4), the
        // third starts the next; the 25 s interval is cut every 10 s into
        // chunks of its own.
        let speech = [iv(0.0, 4.0), iv(5.0, 9.0), iv(10.0, 13.0), iv(20.0, 45.0)];
        let chunks = Track::chunks(&audio, &speech, 10.0);
        let lengths: Vec<f64> = chunks.iter().map(Track::seconds).collect();
        assert_eq!(lengths.len(), 5, "{lengths:?}");
        assert!((lengths[0] - 8.5).abs() < 1e-9, "{lengths:?}");
        assert!(lengths.iter().all(|l| *l <= 10.0), "{lengths:?}");
        // Every second of speech is in exactly one chunk.
        let total: f64 = chunks
            .iter()
            .map(|c| c.pieces.iter().map(|p| p.len).sum::<f64>())
            .sum();
        assert!((total - (4.0 + 4.0 + 3.0 + 25.0)).abs() < 1e-6, "{total}");
        assert!((chunks[1].to_source(0.0) - 10.0).abs() < 1e-9);
        assert!((chunks[4].to_source(1.0) - 41.0).abs() < 1e-9);
    }
}

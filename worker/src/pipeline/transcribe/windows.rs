//! Cutting the speech into windows for whisper.cpp, and mapping the times
//! it reports in a window back onto the source's timeline.

use super::super::{audio::ANALYSIS_RATE, silence::Interval};

/// Speech is packed into windows of up to this much audio, one whisper.cpp
/// call each, and the encoder runs over the window only (`audio_ctx`)
/// instead of the 30 s it was trained on. Its cost grows faster than the
/// audio it hears, so short windows cost less per second; on the listening
/// benchmark (ten minutes, tiny.en q8_0, two threads, one second of
/// padding) 30 s windows took 25.5 s at 2.6 % WER, 20 s 19.1 s at 3.5 %,
/// 15 s 14.4 s at 3.6 % and 10 s 13.7 s at 1.6 % (docs/benchmarks.md).
const WINDOW_SECONDS: f64 = 10.0;
/// Frames of the encoder's context (50 a second) beyond a window's audio:
/// the model hears a second of the quiet it was trained to end on. With
/// none (30 s windows) the benchmark's WER rose from 2.6 % to 3.6 %.
const ENCODER_PAD_FRAMES: usize = 50;
/// The encoder hears at least 8 s: with only a second of quiet after a
/// lone 5 s utterance tiny.en repeated its end (WER test 12.9 % against
/// 5.4 %). Two seconds of padding everywhere fixed that too, at 5-10 %
/// more time on the benchmark.
const MIN_ENCODER_FRAMES: usize = 400;
/// whisper.cpp's full context: 30 s.
const ENCODER_FRAMES: usize = 1500;
/// Audio beyond each speech edge that the model hears too.
const CONTEXT_SECONDS: f64 = 0.2;
/// Silence put between two pieces of one window.
const SPACER_SECONDS: f64 = 0.3;

/// A stretch of source audio inside a window.
#[derive(Clone, Copy, Debug)]
struct Piece {
    /// Where it starts in the window and in the source, in seconds.
    at: f64,
    source: f64,
    len: f64,
}

pub(super) struct Window {
    pub(super) samples: Vec<f32>,
    pieces: Vec<Piece>,
}

impl Window {
    /// The encoder context that holds the window's audio and
    /// [`ENCODER_PAD_FRAMES`] more (at least [`MIN_ENCODER_FRAMES`]),
    /// rounded up to 64 frames, at most the model's 30 s (a longer window
    /// is walked through 30 s at a time).
    pub(super) fn encoder_frames(&self) -> i32 {
        let seconds = self.samples.len() as f64 / f64::from(ANALYSIS_RATE);
        let frames =
            ((seconds * 50.0).ceil() as usize + ENCODER_PAD_FRAMES).max(MIN_ENCODER_FRAMES);
        let frames = frames.next_multiple_of(64).min(ENCODER_FRAMES);
        i32::try_from(frames).expect("at most ENCODER_FRAMES")
    }

    /// Where the last speech in the window ends (before its trailing
    /// context), in centiseconds of window time as whisper.cpp counts.
    pub(super) fn speech_end_cs(&self) -> i64 {
        self.pieces.last().map_or(0, |p| {
            ((p.at + (p.len - CONTEXT_SECONDS).max(0.0)) * 100.0).round() as i64
        })
    }

    /// A window time on the source's timeline. Times in a spacer belong to
    /// the end of the piece before it.
    pub(super) fn to_source(&self, t: f64) -> f64 {
        let piece = self
            .pieces
            .iter()
            .rev()
            .find(|p| p.at <= t)
            .unwrap_or(&self.pieces[0]);
        piece.source + (t - piece.at).clamp(0.0, piece.len)
    }
}

/// Packs speech intervals into windows of at most [`WINDOW_SECONDS`]. An
/// interval longer than that gets a window of its own (whisper.cpp walks
/// through longer audio by itself).
pub(super) fn windows(audio: &[f32], speech: &[Interval]) -> Vec<Window> {
    let rate = f64::from(ANALYSIS_RATE);
    let index = |t: f64| ((t * rate).round() as usize).min(audio.len());
    let spacer = (SPACER_SECONDS * rate) as usize;
    let mut out: Vec<Window> = Vec::new();
    let mut taken = 0;
    for interval in speech {
        // The model hears a little context on each side (a soft final
        // consonant below the speech edge), never the same audio twice.
        let a = index(interval.start - CONTEXT_SECONDS).max(taken);
        let b = index(interval.end + CONTEXT_SECONDS);
        taken = b;
        if b <= a {
            continue;
        }
        let len = (b - a) as f64 / rate;
        let fits = out
            .last()
            .is_some_and(|w| (w.samples.len() + spacer) as f64 / rate + len <= WINDOW_SECONDS);
        if !fits {
            out.push(Window {
                samples: Vec::new(),
                pieces: Vec::new(),
            });
        }
        let window = out.last_mut().expect("just pushed");
        if !window.samples.is_empty() {
            window.samples.resize(window.samples.len() + spacer, 0.0);
        }
        window.pieces.push(Piece {
            at: window.samples.len() as f64 / rate,
            source: a as f64 / rate,
            len,
        });
        window.samples.extend_from_slice(&audio[a..b]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: f64, end: f64) -> Interval {
        Interval { start, end }
    }

    #[test]
    fn speech_is_packed_into_windows_and_mapped_back() {
        let audio = vec![0.1f32; 16_000 * 100];
        let speech = [iv(1.0, 4.0), iv(20.0, 25.0), iv(50.0, 90.0)];
        let w = windows(&audio, &speech);
        // 3.4 s + 0.3 s + 5.4 s (speech with 0.2 s of context on each
        // side) fit in 10 s; 40.4 s gets its own window.
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].pieces.len(), 2);
        assert!((w[0].samples.len() as f64 / 16_000.0 - 9.1).abs() < 1e-3);
        assert!((w[0].to_source(0.5) - 1.3).abs() < 1e-9);
        assert!((w[0].to_source(3.7 + 2.0) - 21.8).abs() < 1e-9);
        // A time in the spacer belongs to the end of the first piece.
        assert!((w[0].to_source(3.5) - 4.2).abs() < 1e-9);
        assert!((w[1].to_source(39.0) - 88.8).abs() < 1e-9);
        // The encoder hears 9.1 s and a second more, in 64-frame steps;
        // the long window gets the model's whole 30 s.
        assert_eq!(w[0].encoder_frames(), 512);
        assert_eq!(w[1].encoder_frames(), 1500);
        // The last speech ends 0.2 s (its context) before the window does.
        assert_eq!(w[0].speech_end_cs(), 890);
    }
}

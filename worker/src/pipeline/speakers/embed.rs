//! Embedding: speech cut into overlapping windows, and a speaker embedding
//! ([`crate::pipeline::voice`]) for each window.

use tokio_util::sync::CancellationToken;

use super::{EMBED_CHUNK, FPS, MIN_EMBED};
use crate::{
    engines::Engines,
    pipeline::{Progress, audio::ANALYSIS_RATE, silence::Interval, voice::Embedder},
};

/// Where a window sits, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Span {
    pub start: f64,
    pub end: f64,
}

/// Windows of `window` seconds every `hop` seconds inside each speech
/// interval, the last aligned to its end; an interval shorter than a window
/// is one window, one shorter than [`MIN_EMBED`] none.
pub(crate) fn windows(speech: &[Interval], window: f64, hop: f64) -> Vec<Span> {
    let mut out = Vec::new();
    for iv in speech {
        let len = iv.end - iv.start;
        if len < MIN_EMBED {
            continue;
        }
        if len <= window {
            out.push(Span {
                start: iv.start,
                end: iv.end,
            });
            continue;
        }
        let mut s = iv.start;
        while s + window < iv.end - 1e-9 {
            out.push(Span {
                start: s,
                end: s + window,
            });
            s += hop;
        }
        out.push(Span {
            start: iv.end - window,
            end: iv.end,
        });
    }
    out
}

/// An embedding for each of `windows` over `speech` in `audio`.
/// `Ok(None)` once `stop` fired.
pub(super) fn embed(
    engines: &Engines,
    audio: &[f32],
    speech: &[Interval],
    windows: &[Span],
    stop: &CancellationToken,
    progress: &Progress,
) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
    let rate = f64::from(ANALYSIS_RATE);
    let mut embedder = Embedder::open(engines)?;
    // The feature frames of every speech interval, end to end; each window
    // names its frames in that buffer.
    let mut features = embedder.features();
    let mut ranges = Vec::with_capacity(windows.len());
    let mut w = 0;
    for iv in speech {
        let a = ((iv.start * rate) as usize).min(audio.len());
        let b = ((iv.end * rate) as usize).min(audio.len());
        let offset = features.len();
        embedder.extend(&mut features, &audio[a..b]);
        while w < windows.len() && windows[w].start < iv.end {
            let first = offset + ((windows[w].start - iv.start) * FPS).round() as usize;
            let last = offset + ((windows[w].end - iv.start) * FPS).round() as usize;
            // Kaldi's frames stop a window short of the interval's end:
            // keep every range inside its own interval's frames.
            let end = features.len().max(offset + 1);
            let first = first.min(end - 1);
            ranges.push((first, last.clamp(first + 1, end)));
            w += 1;
        }
        if stop.is_cancelled() {
            return Ok(None);
        }
    }
    let mut embeddings = Vec::with_capacity(windows.len());
    for chunk in ranges.chunks(EMBED_CHUNK) {
        if stop.is_cancelled() {
            return Ok(None);
        }
        embeddings.extend(embedder.embed(&features, chunk)?);
        // Embedding is nearly all of the work.
        progress.set(embeddings.len() as f32 / ranges.len() as f32 * 0.9);
    }
    Ok(Some(embeddings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_speech_and_skip_blips() {
        let iv = |start, end| Interval { start, end };
        let w = windows(&[iv(0.0, 0.2), iv(1.0, 2.0), iv(3.0, 6.0)], 1.5, 0.75);
        let spans: Vec<(f64, f64)> = w.iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            spans,
            [(1.0, 2.0), (3.0, 4.5), (3.75, 5.25), (4.5, 6.0)],
            "a 0.2 s blip has no window; the last window ends with the speech"
        );
    }
}

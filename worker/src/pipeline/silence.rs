//! Stage 4: silence detection by audio energy, producing `silences.json`.
//!
//! The 16 kHz mono audio is cut into 10 ms frames; a frame whose RMS level
//! is below the threshold is quiet. A quiet stretch at least
//! `min_silence_ms` long is silence, everything else speech. Speech is then
//! widened by `margin_ms` on both sides, so a cut made at a silence never
//! clips the first or last syllable, and the silences shrink to match.
//! The two lists together cover the whole file without gaps or overlaps.
//!
//! Written by hand: it is a few dozen lines of run-length logic over frame
//! levels, and no maintained crate offers runs with minimum lengths and
//! margins. (The listening stage replaces the detector with Silero VAD.)

use std::sync::Arc;

use cutroom_core::jobs::SilenceOptions;
use serde::Serialize;

use super::{JobCtx, Output, StageError, audio::DecodedAudio};

pub(crate) const FILE_NAME: &str = "silences.json";
/// Bumped when the file's shape changes incompatibly.
const FORMAT_VERSION: u32 = 1;
const FRAME_MS: u64 = 10;

/// The contents of `silences.json`. Times are seconds, rounded to the
/// millisecond.
#[derive(Debug, Serialize)]
pub(crate) struct SilenceReport {
    pub version: u32,
    pub duration: f64,
    pub params: SilenceOptions,
    pub silences: Vec<Interval>,
    pub speech: Vec<Interval>,
    pub silence_total: f64,
    pub speech_total: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Interval {
    pub start: f64,
    pub end: f64,
}

pub(crate) async fn run(ctx: &JobCtx<'_>, audio: &DecodedAudio) -> Result<Output, StageError> {
    let samples = Arc::clone(&audio.mono16k);
    let params = ctx.options.silence.clone();
    let report =
        tokio::task::spawn_blocking(move || detect(&samples, super::audio::ANALYSIS_RATE, &params))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    tracing::info!(
        silences = report.silences.len(),
        silence_total = report.silence_total,
        "silences detected"
    );
    let path = ctx.scratch.join(FILE_NAME);
    let json = serde_json::to_vec_pretty(&report).expect("the report is plain data");
    tokio::fs::write(&path, json).await.map_err(|e| {
        StageError::failed(
            cutroom_core::ErrorCode::InternalError,
            "the worker could not write its results; try again later",
        )
        .detail(e)
    })?;
    Ok(Output {
        name: FILE_NAME,
        path,
        content_type: "application/json",
    })
}

/// The analysis itself: pure, so tests feed it synthetic signals.
pub(crate) fn detect(samples: &[f32], rate: u32, params: &SilenceOptions) -> SilenceReport {
    let rate = u64::from(rate.max(1));
    let len = samples.len() as u64;
    let duration = (len * 1000 + rate / 2) / rate;
    let frame_len = usize::try_from((rate * FRAME_MS / 1000).max(1)).unwrap_or(usize::MAX);

    // Quiet runs long enough to count, in milliseconds.
    let mut quiet_runs = Vec::new();
    let mut run_start = None;
    let frames = samples.chunks(frame_len).enumerate();
    for (i, frame) in frames {
        let at = i as u64 * FRAME_MS;
        match (is_quiet(frame, params.threshold_db), run_start) {
            (true, None) => run_start = Some(at),
            (false, Some(start)) => {
                quiet_runs.push((start, at));
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run_start {
        quiet_runs.push((start, duration));
    }
    quiet_runs.retain(|(s, e)| e.saturating_sub(*s) >= u64::from(params.min_silence_ms));

    let margin = u64::from(params.margin_ms);
    let mut speech: Vec<(u64, u64)> = Vec::new();
    for (s, e) in complement(&quiet_runs, duration) {
        let widened = (s.saturating_sub(margin), (e + margin).min(duration));
        match speech.last_mut() {
            Some(last) if widened.0 <= last.1 => last.1 = last.1.max(widened.1),
            _ => speech.push(widened),
        }
    }
    let silences = complement(&speech, duration);

    let total = |v: &[(u64, u64)]| seconds(v.iter().map(|(s, e)| e - s).sum());
    SilenceReport {
        version: FORMAT_VERSION,
        duration: seconds(duration),
        params: params.clone(),
        silence_total: total(&silences),
        speech_total: total(&speech),
        silences: intervals(&silences),
        speech: intervals(&speech),
    }
}

/// Whether a frame's RMS level is below `threshold_db` dBFS. Digital
/// silence (RMS 0) is -inf dBFS, quiet at any threshold.
fn is_quiet(frame: &[f32], threshold_db: f32) -> bool {
    let energy: f64 = frame.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let rms = (energy / frame.len().max(1) as f64).sqrt();
    20.0 * rms.log10() < f64::from(threshold_db)
}

/// The parts of `0..duration` not covered by sorted, disjoint `intervals`.
fn complement(intervals: &[(u64, u64)], duration: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(s, e) in intervals {
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
    }
    if at < duration {
        out.push((at, duration));
    }
    out
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

fn intervals(v: &[(u64, u64)]) -> Vec<Interval> {
    v.iter()
        .map(|&(s, e)| Interval {
            start: seconds(s),
            end: seconds(e),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    /// `(seconds, amplitude)` pieces of a 440 Hz tone; amplitude 0 is digital silence.
    pub(crate) fn signal(pieces: &[(f64, f32)]) -> Vec<f32> {
        let mut out = Vec::new();
        for &(secs, amp) in pieces {
            let n = (secs * f64::from(RATE)).round() as usize;
            let start = out.len();
            out.extend((0..n).map(|i| {
                amp * (2.0 * std::f32::consts::PI * 440.0 * (start + i) as f32 / RATE as f32).sin()
            }));
        }
        out
    }

    fn params(threshold_db: f32, min_silence_ms: u32, margin_ms: u32) -> SilenceOptions {
        SilenceOptions {
            threshold_db,
            min_silence_ms,
            margin_ms,
        }
    }

    fn spans(v: &[Interval]) -> Vec<(f64, f64)> {
        v.iter().map(|i| (i.start, i.end)).collect()
    }

    /// Asserts interval lists match within `tol` seconds.
    pub(crate) fn assert_close(got: &[Interval], want: &[(f64, f64)], tol: f64) {
        assert_eq!(got.len(), want.len(), "got {:?}, want {want:?}", spans(got));
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.start - w.0).abs() <= tol && (g.end - w.1).abs() <= tol,
                "got {:?}, want {want:?}",
                spans(got)
            );
        }
    }

    /// Silences and speech alternate, touch, and cover the whole file.
    fn assert_partition(r: &SilenceReport) {
        let mut all: Vec<Interval> = r.silences.iter().chain(&r.speech).copied().collect();
        all.sort_by(|a, b| a.start.total_cmp(&b.start));
        let mut at = 0.0;
        for i in &all {
            assert!(
                (i.start - at).abs() < 1e-9 && i.end > i.start,
                "gap or overlap at {at}: {all:?}"
            );
            at = i.end;
        }
        assert!((at - r.duration).abs() < 1e-9);
        assert!((r.silence_total + r.speech_total - r.duration).abs() < 1e-9);
    }

    #[test]
    fn finds_a_gap_between_tones_and_keeps_a_margin() {
        let audio = signal(&[(1.0, 0.5), (1.0, 0.0), (1.0, 0.5)]);
        let r = detect(&audio, RATE, &params(-40.0, 500, 100));
        assert_eq!(r.duration, 3.0);
        assert_close(&r.silences, &[(1.1, 1.9)], 0.02);
        assert_close(&r.speech, &[(0.0, 1.1), (1.9, 3.0)], 0.02);
        assert_partition(&r);
    }

    #[test]
    fn gaps_shorter_than_the_minimum_stay_speech() {
        let audio = signal(&[(1.0, 0.5), (0.3, 0.0), (1.0, 0.5)]);
        let r = detect(&audio, RATE, &params(-40.0, 500, 0));
        assert!(r.silences.is_empty(), "{:?}", r.silences);
        assert_close(&r.speech, &[(0.0, 2.3)], 0.0);
        assert_partition(&r);
    }

    #[test]
    fn margins_that_meet_swallow_the_silence() {
        // 150 ms of silence is long enough, but 100 ms of margin on each side covers it.
        let audio = signal(&[(1.0, 0.5), (0.15, 0.0), (1.0, 0.5)]);
        let r = detect(&audio, RATE, &params(-40.0, 100, 100));
        assert!(r.silences.is_empty(), "{:?}", r.silences);
        assert_partition(&r);
    }

    #[test]
    fn leading_and_trailing_silence_are_clamped_to_the_file() {
        let audio = signal(&[(0.5, 0.0), (1.0, 0.5), (1.0, 0.0)]);
        let r = detect(&audio, RATE, &params(-40.0, 300, 100));
        assert_close(&r.silences, &[(0.0, 0.4), (1.6, 2.5)], 0.02);
        assert_close(&r.speech, &[(0.4, 1.6)], 0.02);
        assert_partition(&r);
    }

    #[test]
    fn the_threshold_separates_quiet_noise_from_speech() {
        // Peak 0.001 is about -63 dBFS RMS; peak 0.05 about -29 dBFS.
        let audio = signal(&[(1.0, 0.05), (1.0, 0.001), (1.0, 0.05)]);
        let r = detect(&audio, RATE, &params(-40.0, 500, 0));
        assert_close(&r.silences, &[(1.0, 2.0)], 0.02);
        // A stricter threshold hears the quiet part as speech too.
        let r = detect(&audio, RATE, &params(-70.0, 500, 0));
        assert!(r.silences.is_empty());
        // A laxer one hears everything as silence.
        let r = detect(&audio, RATE, &params(-20.0, 500, 0));
        assert_close(&r.silences, &[(0.0, 3.0)], 0.0);
        assert!(r.speech.is_empty());
        assert_eq!(r.speech_total, 0.0);
    }

    #[test]
    fn odd_lengths_round_to_milliseconds_and_still_partition() {
        let audio = signal(&[(0.7333, 0.5), (0.9, 0.0), (0.4217, 0.5)]);
        let r = detect(&audio, RATE, &params(-40.0, 500, 50));
        assert_eq!(r.duration, 2.055);
        assert_close(&r.silences, &[(0.783, 1.583)], 0.02);
        assert_partition(&r);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["params"]["min_silence_ms"], 500);
        assert!(json["silences"][0]["start"].is_f64());
    }
}

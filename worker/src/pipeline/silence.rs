//! Speech and silence, producing `silences.json`.
//!
//! Silero VAD ([`super::vad`]) gives a speech probability per 32 ms chunk of
//! the 16 kHz audio. Speech starts where the probability reaches
//! `vad_threshold` and ends once it has stayed below `vad_threshold - 0.15`
//! for `min_silence_ms` (the hysteresis of Silero's own
//! `get_speech_timestamps`); speech shorter than `min_speech_ms` is dropped.
//!
//! The audio level then does two things the detector cannot: its 10 ms
//! frames move each speech boundary onto audible audio (the detector's
//! chunks are 32 ms and it reacts a chunk late or early), and it tells a
//! non-speech passage that is quiet from one that is music, a tone or noise
//! (an energy-only detector hears those as speech).
//!
//! Speech is finally widened by `margin_ms` on both sides, so a cut made
//! at a silence never clips the first or last syllable, and the silences
//! shrink to match. The two lists together cover the whole file without
//! gaps or overlaps.
//!
//! Written by hand: it is run-length logic over frame levels and chunk
//! probabilities, and no maintained crate offers it over an ONNX model.

use std::sync::Arc;

use cutroom_core::{ErrorCode, jobs::SilenceOptions};
use serde::Serialize;

use super::{JobCtx, Output, StageError, audio::DecodedAudio, vad};

pub(crate) const FILE_NAME: &str = "silences.json";
/// Bumped when the file's shape changes incompatibly.
const FORMAT_VERSION: u32 = 1;
const FRAME_MS: u64 = 10;
/// How far a boundary may move onto audible audio, at most.
const REFINE_MS: u64 = 300;
/// Quieter runs a boundary may step over while moving out.
const BRIDGE_MS: u64 = 100;
/// Speech must be this much louder than the non-speech beside it.
const EDGE_SNR_DB: f64 = 6.0;
/// Speech edges lie within this much of the utterance's loudest frame.
const DYNAMIC_RANGE_DB: f64 = 35.0;
/// How much non-speech beside an edge sets its threshold (1 s of frames).
const CONTEXT_FRAMES: usize = 100;
/// Hysteresis below `vad_threshold` before speech counts as ended.
const VAD_HYSTERESIS: f32 = 0.15;

/// The contents of `silences.json`. Times are seconds, rounded to the
/// millisecond.
#[derive(Debug, Serialize)]
pub(crate) struct SilenceReport {
    pub version: u32,
    pub duration: f64,
    pub params: SilenceOptions,
    pub silences: Vec<Silence>,
    pub speech: Vec<Interval>,
    pub silence_total: f64,
    pub speech_total: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Interval {
    pub start: f64,
    pub end: f64,
}

/// A stretch without speech.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Silence {
    pub start: f64,
    pub end: f64,
    /// `quiet` when most of it is below `threshold_db`; `noise` when it is
    /// audible but not speech (music, a tone, traffic).
    pub kind: SilenceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SilenceKind {
    Quiet,
    Noise,
}

/// What the stage found, for the stages after it.
#[derive(Debug)]
pub(crate) struct Speech {
    pub report: SilenceReport,
    pub output: Output,
}

pub(crate) async fn run(ctx: &JobCtx<'_>, audio: &DecodedAudio) -> Result<Speech, StageError> {
    let samples = Arc::clone(&audio.mono16k);
    let params = ctx.options.silence.clone();
    let engines = std::sync::Arc::clone(ctx.engines);
    let stop = ctx.stop.clone();
    let span = tracing::Span::current();
    let detected = tokio::task::spawn_blocking(move || {
        span.in_scope(|| -> anyhow::Result<Option<SilenceReport>> {
            let mut vad = vad::SileroVad::open(
                &engines.set.onnxruntime().path,
                &engines.set.silero_vad().path,
                engines.threads,
            )?;
            let Some(probs) = vad.probabilities(&samples, &stop)? else {
                return Ok(None);
            };
            Ok(Some(detect(
                &samples,
                super::audio::ANALYSIS_RATE,
                &params,
                &probs,
            )))
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    .map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "voice activity detection failed; try again later",
        )
        .detail(format!("{e:#}"))
    })?;
    let Some(report) = detected else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    tracing::info!(
        speech = report.speech.len(),
        speech_total = report.speech_total,
        silence_total = report.silence_total,
        "speech detected"
    );
    let json = serde_json::to_vec_pretty(&report).expect("the report is plain data");
    let output = ctx
        .write_output(FILE_NAME, "application/json", json)
        .await?
        .made_with([ctx.engines.set.silero_vad()]);
    Ok(Speech { report, output })
}

/// The analysis itself: pure, so tests feed it synthetic signals and
/// probabilities. `speech_prob` has one value per [`vad::CHUNK`] samples.
pub(crate) fn detect(
    samples: &[f32],
    rate: u32,
    params: &SilenceOptions,
    speech_prob: &[f32],
) -> SilenceReport {
    let rate_u = u64::from(rate.max(1));
    let len = samples.len() as u64;
    let duration = (len * 1000 + rate_u / 2) / rate_u;
    let frame_len = usize::try_from((rate_u * FRAME_MS / 1000).max(1)).unwrap_or(usize::MAX);
    let levels: Vec<f64> = samples.chunks(frame_len).map(level_db).collect();
    let loud: Vec<bool> = levels
        .iter()
        .map(|l| *l >= f64::from(params.threshold_db))
        .collect();
    let chunk_ms = vad::CHUNK as f64 * 1000.0 / rate_u as f64;
    let at = |chunk: usize| ((chunk as f64 * chunk_ms).round() as u64).min(duration);

    // Silero's hysteresis over chunks.
    let on = params.vad_threshold;
    let off = (on - VAD_HYSTERESIS).max(0.01);
    let min_silence = u64::from(params.min_silence_ms);
    let mut raw: Vec<(u64, u64)> = Vec::new();
    let mut start: Option<u64> = None;
    let mut quiet_since: Option<u64> = None;
    for (i, &p) in speech_prob.iter().enumerate() {
        match start {
            None if p >= on => start = Some(at(i)),
            None => {}
            Some(s) => {
                if p >= on {
                    quiet_since = None;
                } else if p < off {
                    let since = *quiet_since.get_or_insert(at(i));
                    if at(i + 1) - since >= min_silence {
                        raw.push((s, since));
                        start = None;
                        quiet_since = None;
                    }
                }
            }
        }
    }
    if let Some(s) = start {
        raw.push((s, quiet_since.unwrap_or(duration)));
    }

    // Onto audible audio: trim inaudible edges, and reach out to audible
    // audio just outside (a word's onset the detector heard late, a
    // trailing syllable it let go early). "Audible" is relative to the
    // non-speech next to each edge, so speech beside noise or music does
    // not swallow it.
    let frame_of = |ms: u64| usize::try_from(ms / FRAME_MS).unwrap_or(usize::MAX);
    let n = levels.len();
    let mut refined: Vec<(u64, u64)> = Vec::new();
    let mut prev_end = 0;
    for (k, &(s, e)) in raw.iter().enumerate() {
        let (a0, b0) = (frame_of(s).min(n), frame_of(e).min(n));
        let next_start = raw.get(k + 1).map_or(n, |r| frame_of(r.0).min(n));
        // Within the utterance's own dynamic range too: a recording's
        // noise floor is audible but not speech.
        let peak = levels[a0..b0.max(a0)]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let floor = f64::from(params.threshold_db).max(peak - DYNAMIC_RANGE_DB);
        let before = edge_threshold(
            &levels[prev_end.max(a0.saturating_sub(CONTEXT_FRAMES))..a0],
            floor,
        );
        let after = edge_threshold(&levels[b0..next_start.min(b0 + CONTEXT_FRAMES)], floor);
        prev_end = b0;
        let (mut a, mut b) = (a0, b0);
        while a < b && levels[a] < before {
            a += 1;
        }
        while b > a && levels[b - 1] < after {
            b -= 1;
        }
        if a == b {
            // Nothing stands out: the detector's interval stays as it was.
            (a, b) = (a0, b0);
        } else {
            a = reach(&levels, a, before, Direction::Back);
            b = reach(&levels, b, after, Direction::Forward);
        }
        let (s, e) = (a as u64 * FRAME_MS, (b as u64 * FRAME_MS).min(duration));
        if e.saturating_sub(s) < u64::from(params.min_speech_ms) {
            continue;
        }
        match refined.last_mut() {
            Some(last) if s.saturating_sub(last.1) < min_silence => last.1 = last.1.max(e),
            _ => refined.push((s, e)),
        }
    }

    let margin = u64::from(params.margin_ms);
    let mut speech: Vec<(u64, u64)> = Vec::new();
    for (s, e) in refined {
        let widened = (s.saturating_sub(margin), (e + margin).min(duration));
        match speech.last_mut() {
            Some(last) if widened.0 <= last.1 => last.1 = last.1.max(widened.1),
            _ => speech.push(widened),
        }
    }
    let gaps = complement(&speech, duration);
    let silences: Vec<Silence> = gaps
        .iter()
        .map(|&(s, e)| {
            let frames = &loud[frame_of(s).min(loud.len())..frame_of(e).min(loud.len())];
            let audible = frames.iter().filter(|l| **l).count();
            Silence {
                start: seconds(s),
                end: seconds(e),
                kind: if audible * 2 > frames.len() {
                    SilenceKind::Noise
                } else {
                    SilenceKind::Quiet
                },
            }
        })
        .collect();

    let total = |v: &[(u64, u64)]| seconds(v.iter().map(|(s, e)| e - s).sum());
    SilenceReport {
        version: FORMAT_VERSION,
        duration: seconds(duration),
        params: params.clone(),
        silence_total: total(&gaps),
        speech_total: total(&speech),
        silences,
        speech: intervals(&speech),
    }
}

/// A frame's RMS level in dBFS; digital silence is -inf.
pub(crate) fn level_db(frame: &[f32]) -> f64 {
    let energy: f64 = frame.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    10.0 * (energy / frame.len().max(1) as f64).log10()
}

/// The level speech must exceed at an edge: `floor` (the configured
/// threshold), or the median of the non-speech beside it plus
/// [`EDGE_SNR_DB`], whichever is higher.
fn edge_threshold(beside: &[f64], floor: f64) -> f64 {
    if beside.is_empty() {
        return floor;
    }
    let mut sorted = beside.to_vec();
    sorted.sort_by(f64::total_cmp);
    floor.max(sorted[sorted.len() / 2] + EDGE_SNR_DB)
}

#[derive(Clone, Copy)]
enum Direction {
    Back,
    Forward,
}

/// Moves an edge (a frame boundary) outwards onto the farthest frame above
/// `threshold` within [`REFINE_MS`], stepping over quieter runs of up to
/// [`BRIDGE_MS`] (the closure before a stop consonant).
fn reach(levels: &[f64], edge: usize, threshold: f64, direction: Direction) -> usize {
    let max = usize::try_from(REFINE_MS / FRAME_MS).unwrap_or(0);
    let bridge = usize::try_from(BRIDGE_MS / FRAME_MS).unwrap_or(0);
    let mut best = edge;
    let mut quiet = 0;
    for step in 1..=max {
        let frame = match direction {
            Direction::Back if step <= edge => edge - step,
            Direction::Forward if edge + step <= levels.len() => edge + step - 1,
            _ => break,
        };
        if levels[frame] >= threshold {
            best = match direction {
                Direction::Back => frame,
                Direction::Forward => frame + 1,
            };
            quiet = 0;
        } else {
            quiet += 1;
            if quiet > bridge {
                break;
            }
        }
    }
    best
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

    /// A piece of test signal: seconds, 440 Hz tone amplitude (0 is digital
    /// silence), and whether the voice detector calls it speech.
    pub(crate) type Piece = (f64, f32, bool);

    pub(crate) fn signal(pieces: &[Piece]) -> Vec<f32> {
        let mut out = Vec::new();
        for &(secs, amp, _) in pieces {
            let n = (secs * f64::from(RATE)).round() as usize;
            let start = out.len();
            out.extend((0..n).map(|i| {
                amp * (2.0 * std::f32::consts::PI * 440.0 * (start + i) as f32 / RATE as f32).sin()
            }));
        }
        out
    }

    /// What a perfect detector says about `pieces`: 0.9 in speech, 0.02
    /// elsewhere, per chunk (by the chunk's middle).
    pub(crate) fn probs(pieces: &[Piece]) -> Vec<f32> {
        let total: f64 = pieces.iter().map(|p| p.0).sum();
        let chunk = vad::CHUNK as f64 / f64::from(RATE);
        let n = (total / chunk).ceil() as usize;
        (0..n)
            .map(|i| {
                let mid = (i as f64 + 0.5) * chunk;
                let mut at = 0.0;
                for &(secs, _, speech) in pieces {
                    if mid < at + secs {
                        return if speech { 0.9 } else { 0.02 };
                    }
                    at += secs;
                }
                0.02
            })
            .collect()
    }

    pub(crate) fn params(min_silence_ms: u32, margin_ms: u32) -> SilenceOptions {
        SilenceOptions {
            min_silence_ms,
            margin_ms,
            ..SilenceOptions::default()
        }
    }

    fn run(pieces: &[Piece], p: &SilenceOptions) -> SilenceReport {
        detect(&signal(pieces), RATE, p, &probs(pieces))
    }

    fn spans<T: Copy>(v: &[T], f: impl Fn(T) -> (f64, f64)) -> Vec<(f64, f64)> {
        v.iter().map(|i| f(*i)).collect()
    }

    /// Asserts interval lists match within `tol` seconds.
    pub(crate) fn assert_close(got: &[(f64, f64)], want: &[(f64, f64)], tol: f64) {
        assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.0 - w.0).abs() <= tol && (g.1 - w.1).abs() <= tol,
                "got {got:?}, want {want:?}"
            );
        }
    }

    fn speech(r: &SilenceReport) -> Vec<(f64, f64)> {
        spans(&r.speech, |i| (i.start, i.end))
    }

    fn silences(r: &SilenceReport) -> Vec<(f64, f64)> {
        spans(&r.silences, |i| (i.start, i.end))
    }

    /// Silences and speech alternate, touch, and cover the whole file.
    fn assert_partition(r: &SilenceReport) {
        let mut all = speech(r);
        all.extend(silences(r));
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut at = 0.0;
        for i in &all {
            assert!(
                (i.0 - at).abs() < 1e-9 && i.1 > i.0,
                "gap or overlap at {at}: {all:?}"
            );
            at = i.1;
        }
        assert!((at - r.duration).abs() < 1e-9);
        assert!((r.silence_total + r.speech_total - r.duration).abs() < 1e-9);
    }

    #[test]
    fn finds_a_pause_between_speech_and_keeps_a_margin() {
        let pieces = [(1.0, 0.5, true), (1.0, 0.0, false), (1.0, 0.5, true)];
        let r = run(&pieces, &params(500, 100));
        assert_eq!(r.duration, 3.0);
        assert_close(&silences(&r), &[(1.1, 1.9)], 0.02);
        assert_close(&speech(&r), &[(0.0, 1.1), (1.9, 3.0)], 0.02);
        assert_eq!(r.silences[0].kind, SilenceKind::Quiet);
        assert_partition(&r);
    }

    #[test]
    fn boundaries_land_on_audible_audio_not_on_chunk_edges() {
        // 1.01 s is not a multiple of the detector's 32 ms; the level is.
        let pieces = [(1.01, 0.0, false), (1.0, 0.5, true), (0.99, 0.0, false)];
        let r = run(&pieces, &params(500, 0));
        assert_close(&speech(&r), &[(1.01, 2.01)], 0.011);
    }

    #[test]
    fn pauses_shorter_than_the_minimum_stay_speech() {
        let pieces = [(1.0, 0.5, true), (0.3, 0.0, false), (1.0, 0.5, true)];
        let r = run(&pieces, &params(500, 0));
        assert!(r.silences.is_empty(), "{:?}", r.silences);
        assert_close(&speech(&r), &[(0.0, 2.3)], 0.0);
        assert_partition(&r);
    }

    #[test]
    fn margins_that_meet_swallow_the_silence() {
        let pieces = [(1.0, 0.5, true), (0.15, 0.0, false), (1.0, 0.5, true)];
        let r = run(&pieces, &params(100, 100));
        assert!(r.silences.is_empty(), "{:?}", r.silences);
        assert_partition(&r);
    }

    #[test]
    fn leading_and_trailing_silence_are_clamped_to_the_file() {
        let pieces = [(0.5, 0.0, false), (1.0, 0.5, true), (1.0, 0.0, false)];
        let r = run(&pieces, &params(300, 100));
        assert_close(&silences(&r), &[(0.0, 0.4), (1.6, 2.5)], 0.02);
        assert_close(&speech(&r), &[(0.4, 1.6)], 0.02);
        assert_partition(&r);
    }

    #[test]
    fn audible_non_speech_is_noise_not_speech() {
        // A loud tone the detector does not call speech: an energy-only
        // detector would call it speech.
        let pieces = [(1.0, 0.5, true), (2.0, 0.5, false), (1.0, 0.5, true)];
        let r = run(&pieces, &params(500, 0));
        assert_eq!(r.silences.len(), 1, "{:?}", r.silences);
        assert_eq!(r.silences[0].kind, SilenceKind::Noise);
        // Boundaries next to audible audio may reach into it by at most
        // REFINE_MS (plus a detector chunk): the level cannot tell where
        // speech ends inside sound.
        let reach = (REFINE_MS as f64 + 32.0) / 1000.0;
        assert_close(&silences(&r), &[(1.0, 3.0)], reach);
    }

    #[test]
    fn short_blips_are_not_speech() {
        let pieces = [(1.0, 0.0, false), (0.1, 0.5, true), (1.0, 0.0, false)];
        let r = run(&pieces, &params(500, 0));
        assert!(r.speech.is_empty(), "{:?}", r.speech);
        assert_close(&silences(&r), &[(0.0, 2.1)], 0.0);
    }

    #[test]
    fn odd_lengths_round_to_milliseconds_and_still_partition() {
        let pieces = [(0.7333, 0.5, true), (0.9, 0.0, false), (0.4217, 0.5, true)];
        let r = run(&pieces, &params(500, 50));
        assert_eq!(r.duration, 2.055);
        assert_close(&silences(&r), &[(0.783, 1.583)], 0.02);
        assert_partition(&r);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["params"]["min_silence_ms"], 500);
        assert_eq!(json["silences"][0]["kind"], "quiet");
        assert!(json["silences"][0]["start"].is_f64());
    }
}

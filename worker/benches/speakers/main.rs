//! Speaker models side by side: CAM++ (the default) and the d-vector.
//!
//! `bash .ci/bench-speakers` (fetches the speech, then
//! `cargo bench -p cutroom-worker --features bench --bench speakers`).
//! Every set is split by speaker (or by meeting) into a tune part, which
//! chooses thresholds and clustering distances, and a held-out part, which
//! only reports.
//!
//! 1. Verification: every pair of clips, same speaker or not; the equal
//!    error rate, and the held-out error rates at the tune part's threshold.
//! 2. Identification: each speaker enrolled from one meeting's clips, then
//!    recognised in the others; speakers left out must come back unknown.
//!    Then the same trials through the speaker library's own rule
//!    (`cutroom_core::voiceprints`: a job's voiceprint against samples,
//!    centroid and segment votes, the thresholds it ships with).
//! 3. Diarization: conversations made of council members' clips (2-4
//!    speakers, one meeting's acoustics each), AMI meeting excerpts (real
//!    conversations with overlaps), and ten minutes of one reader with one
//!    phrase of Kennedy's repeated. DER with a 0.25 s collar, and the share
//!    of single-speaker speech on the right speaker.
// A benchmark prints its tables.
#![allow(clippy::print_stdout)]

mod data;
mod identify;
mod score;

use std::time::Instant;

use cutroom_worker::bench::{Models, SpeakerModel, Voices, tuning};
use data::{Clip, Meeting, RATE, Random};
use identify::{identification, library_rule};
use score::{Diarization, diarization, eer, rates};

pub(crate) const MODELS: [SpeakerModel; 2] = [SpeakerModel::DVector, SpeakerModel::CamPlus];
pub(crate) const THREADS: u16 = 2;
const COLLAR: f64 = 0.25;

/// Speakers whose clips tune; the others are held out.
const TUNE_SPEAKERS: &[&str] = &[
    "gonzalez", "herbold", "juarez", "lewis", "morales", "spk1089", "spk1188", "spk121", "spk1221",
];

fn main() {
    score::check();
    let dir = data::data_dir();
    let models_dir = std::env::var_os("CUTROOM_MODELS_DIR").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/cutroom/models")
        },
        Into::into,
    );
    let models = Models::open(&models_dir).expect("the model folder (bash .ci/models)");
    let council = data::council(&dir);
    let libri = data::libri(&dir);
    let ami = data::ami(&dir);
    eprintln!(
        "{} council clips, {} LibriSpeech readers, {} AMI excerpts",
        council.len(),
        libri.len(),
        ami.len()
    );

    let mut clips: Vec<Clip> = Vec::new();
    for c in &council {
        // The middle 8 s of clips of 3 s or more.
        let n = c.samples.len();
        if (n as f64) < 3.0 * RATE {
            continue;
        }
        let keep = n.min((8.0 * RATE) as usize);
        let a = (n - keep) / 2;
        clips.push(Clip {
            speaker: c.speaker.clone(),
            session: c.session.clone(),
            samples: c.samples[a..a + keep].to_vec(),
        });
    }
    for c in &libri {
        // Two halves: a same-speaker pair from one recording.
        let half = c.samples.len() / 2;
        for (i, part) in [&c.samples[..half], &c.samples[half..]].iter().enumerate() {
            clips.push(Clip {
                speaker: c.speaker.clone(),
                session: format!("{}-{i}", c.session),
                samples: part.to_vec(),
            });
        }
    }

    println!("## Verification\n");
    println!(
        "{} clips of 3-8 s ({} speakers; tune: {} of them). Cosine of every pair.\n",
        clips.len(),
        distinct(clips.iter().map(|c| &c.speaker)),
        TUNE_SPEAKERS.len()
    );
    println!(
        "| model | clip | tune EER | threshold | held-out EER | held-out at the tune threshold: false accepts / false rejects | embed ms per clip |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut enrolled: Vec<(SpeakerModel, Vec<Vec<f32>>)> = Vec::new();
    for model in MODELS {
        let mut voices = models.voices(THREADS, model).expect("speaker model");
        for seconds in [8.0, 2.0] {
            let started = Instant::now();
            let embeddings: Vec<Vec<f32>> = clips
                .iter()
                .map(|c| {
                    let n = c.samples.len().min((seconds * RATE) as usize);
                    voices.embed(&c.samples[..n]).expect("embedding")
                })
                .collect();
            let ms = started.elapsed().as_secs_f64() * 1000.0 / clips.len() as f64;
            let (tune, held) = pairs(&clips, &embeddings);
            let (tune_eer, t) = eer(&tune.0, &tune.1);
            let (held_eer, _) = eer(&held.0, &held.1);
            let (far, frr) = rates(&held.0, &held.1, t);
            println!(
                "| {} | {} s | {:.1} % | {t:.3} | {:.1} % | {:.1} % / {:.1} % | {ms:.0} |",
                model.as_str(),
                seconds,
                tune_eer * 100.0,
                held_eer * 100.0,
                far * 100.0,
                frr * 100.0
            );
            if seconds == 8.0 {
                enrolled.push((model, embeddings));
            }
        }
    }

    println!("\n## Identification\n");
    identification(&clips, &enrolled);
    println!("\n## The speaker library's rule\n");
    library_rule(&models, &clips);

    println!("\n## Diarization\n");
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let conversations = council_conversations(&council, &mut random);
    let long = long_file(&mut random);
    diarization_tables(&models, &conversations, &ami, &long);
}

fn distinct<'a>(names: impl Iterator<Item = &'a String>) -> usize {
    let mut v: Vec<&String> = names.collect();
    v.sort();
    v.dedup();
    v.len()
}

pub(crate) fn is_tune(speaker: &str) -> bool {
    TUNE_SPEAKERS.contains(&speaker)
}

type Scores = (Vec<f32>, Vec<f32>);

/// Same- and different-speaker scores within the tune speakers and within
/// the held-out ones.
fn pairs(clips: &[Clip], embeddings: &[Vec<f32>]) -> (Scores, Scores) {
    let mut tune = (Vec::new(), Vec::new());
    let mut held = (Vec::new(), Vec::new());
    for i in 0..clips.len() {
        for j in i + 1..clips.len() {
            let (a, b) = (&clips[i], &clips[j]);
            if is_tune(&a.speaker) != is_tune(&b.speaker) {
                continue;
            }
            let s = cosine(&embeddings[i], &embeddings[j]);
            let set = if is_tune(&a.speaker) {
                &mut tune
            } else {
                &mut held
            };
            if a.speaker == b.speaker {
                set.0.push(s);
            } else {
                set.1.push(s);
            }
        }
    }
    (tune, held)
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// For each meeting, conversations of its 2, 3 and 4 members with the
/// most speech (where it has that many).
fn council_conversations(council: &[Clip], random: &mut Random) -> Vec<Meeting> {
    let mut sessions: Vec<&String> = council.iter().map(|c| &c.session).collect();
    sessions.sort();
    sessions.dedup();
    let mut out = Vec::new();
    for session in sessions {
        let mut members: Vec<(&String, usize)> = Vec::new();
        for c in council.iter().filter(|c| &c.session == session) {
            match members.iter_mut().find(|(m, _)| *m == &c.speaker) {
                Some(m) => m.1 += c.samples.len(),
                None => members.push((&c.speaker, c.samples.len())),
            }
        }
        members.retain(|m| m.1 as f64 >= 9.0 * RATE);
        members.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for n in 2..=4 {
            if members.len() < n {
                break;
            }
            let speakers: Vec<Vec<&Clip>> = members[..n]
                .iter()
                .map(|(m, _)| {
                    council
                        .iter()
                        .filter(|c| &c.session == session && &c.speaker == *m)
                        .collect()
                })
                .collect();
            out.push(data::conversation(
                format!("{session}/{n}"),
                &speakers,
                random,
            ));
        }
    }
    out
}

/// Ten minutes: the LibriVox reader's five utterances and jfk.wav in turn
/// with pauses, round after round, so Kennedy's shouted first phrase comes
/// back again and again.
fn long_file(random: &mut Random) -> Meeting {
    let (reader, jfk) = data::librivox_and_kennedy();
    let mut samples = Vec::new();
    let mut turns = Vec::new();
    while (samples.len() as f64) < 600.0 * RATE {
        for (who, clip) in reader.iter().map(|c| (0, c)).chain([(1, &jfk)]) {
            let start = samples.len() as f64 / RATE;
            samples.extend_from_slice(clip);
            turns.push((start, samples.len() as f64 / RATE, who));
            let pause = 0.3 + 2.2 * random.next();
            random.room(&mut samples, pause);
        }
    }
    Meeting {
        name: "long".into(),
        samples,
        turns,
        speakers: 2,
    }
}

/// A set of recordings, embedded once per model.
struct Embedded<'a> {
    meeting: &'a Meeting,
    tune: bool,
    windows: cutroom_worker::bench::Windows,
}

fn embed_all<'a>(
    models: &Models,
    voices: &Voices,
    meetings: &'a [Meeting],
    tune: impl Fn(&Meeting) -> bool,
) -> (Vec<Embedded<'a>>, f64, f64) {
    let mut out = Vec::new();
    let (mut seconds, mut audio) = (0.0, 0.0);
    for m in meetings {
        let speech = models.speech(&m.samples, THREADS).expect("speech");
        let started = Instant::now();
        let windows = voices.windows(&m.samples, &speech).expect("windows");
        seconds += started.elapsed().as_secs_f64();
        audio += m.samples.len() as f64 / RATE;
        out.push(Embedded {
            meeting: m,
            tune: tune(m),
            windows,
        });
    }
    (out, seconds, audio)
}

fn total(
    set: &[Embedded<'_>],
    tune: bool,
    threshold: f32,
    same_voice: f32,
) -> (Diarization, usize) {
    let mut sum = Diarization::default();
    let mut count_right = 0;
    for e in set.iter().filter(|e| e.tune == tune) {
        let frames = e.windows.diarize(threshold, same_voice);
        let d = diarization(&frames, &e.meeting.turns, e.meeting.speakers, COLLAR);
        count_right += usize::from(d.speakers_found == d.speakers_true);
        sum.add(&d);
    }
    (sum, count_right)
}

fn diarization_tables(models: &Models, conversations: &[Meeting], ami: &[Meeting], long: &Meeting) {
    println!(
        "Tune: council meetings 01e7.., 2cdf.., 6d67.. and AMI trn*; held out: council 9f55.., 9f58.. and AMI dev*, tst*. \
         DER with a {COLLAR} s collar (missed and false-alarm speech come from the VAD, the same for both models); \
         \"right\" is the share of single-speaker speech found as speech that is on the right speaker.\n"
    );
    let held_meetings = ["9f55f22d8e61", "9f581faa5ece"];
    for model in MODELS {
        let voices = models.voices(THREADS, model).expect("speaker model");
        let (council, s1, a1) = embed_all(models, &voices, conversations, |m| {
            !held_meetings.iter().any(|h| m.name.starts_with(h))
        });
        let (meetings, s2, a2) = embed_all(models, &voices, ami, |m| m.name.starts_with("trn"));
        let (long_set, s3, a3) = embed_all(models, &voices, std::slice::from_ref(long), |_| false);
        println!(
            "### {}: embedding {:.1} s per minute of audio (windows of diarization, {THREADS} threads)\n",
            model.as_str(),
            (s1 + s2 + s3) / (a1 + a2 + a3) * 60.0
        );
        // The sweep: every pair of distances on the tune part.
        let (t0, v0) = tuning(model);
        println!(
            "| threshold | same voice | tune DER council | tune DER AMI | right council / AMI | speaker count right (council, AMI) |"
        );
        println!("|---|---|---|---|---|---|");
        let mut best = (f64::MAX, t0, v0);
        for threshold in [
            0.35f32, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85,
        ] {
            for same_voice in [0.2f32, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6] {
                if same_voice > threshold {
                    continue;
                }
                let (c, cn) = total(&council, true, threshold, same_voice);
                let (a, an) = total(&meetings, true, threshold, same_voice);
                let mark = if (threshold, same_voice) == (t0, v0) {
                    " (now)"
                } else {
                    ""
                };
                println!(
                    "| {threshold}{mark} | {same_voice} | {:.1} % | {:.1} % | {:.1} % / {:.1} % | {cn}, {an} |",
                    c.der() * 100.0,
                    a.der() * 100.0,
                    c.right_share() * 100.0,
                    a.right_share() * 100.0
                );
                let objective = c.der() + a.der();
                if objective < best.0 - 1e-9 {
                    best = (objective, threshold, same_voice);
                }
            }
        }
        println!(
            "\nLowest tune DER (council + AMI): threshold {}, same voice {}. The model's current distances: {t0}, {v0}.\n",
            best.1, best.2
        );
        println!(
            "| set | distances | files | speakers found / true | DER | missed / false alarm / confusion | right |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (name, set, tune) in [
            ("council, tune", &council, true),
            ("council, held out", &council, false),
            ("AMI, tune", &meetings, true),
            ("AMI, held out", &meetings, false),
            ("long file (held out)", &long_set, false),
        ] {
            for (label, t, v) in [("current", t0, v0), ("best on tune", best.1, best.2)] {
                let files = set.iter().filter(|e| e.tune == tune).count();
                let (d, _) = total(set, tune, t, v);
                println!(
                    "| {name} | {label} ({t}, {v}) | {files} | {} / {} | {:.1} % | {:.1} / {:.1} / {:.1} % | {:.1} % |",
                    d.speakers_found,
                    d.speakers_true,
                    d.der() * 100.0,
                    d.missed / d.reference * 100.0,
                    d.false_alarm / d.reference * 100.0,
                    d.confusion / d.reference * 100.0,
                    d.right_share() * 100.0
                );
            }
        }
        println!();
    }
}

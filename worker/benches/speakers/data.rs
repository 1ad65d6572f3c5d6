//! The benchmark's speech, as `.ci/bench-speakers` fetches it: council
//! members' clips from five meetings, LibriSpeech readers, AMI meeting
//! excerpts with who speaks when, and LibriVox plus jfk.wav for a long file.

use std::{
    fs,
    path::{Path, PathBuf},
};

pub(crate) const RATE: f64 = 16_000.0;

/// One speaker's recording.
pub(crate) struct Clip {
    pub(crate) speaker: String,
    /// Where it was recorded: a meeting id, or the reader's own session.
    pub(crate) session: String,
    pub(crate) samples: Vec<f32>,
}

/// A recording of several people with who speaks when.
pub(crate) struct Meeting {
    pub(crate) name: String,
    pub(crate) samples: Vec<f32>,
    /// (start, end, speaker) in seconds, overlaps allowed.
    pub(crate) turns: Vec<(f64, f64, usize)>,
    pub(crate) speakers: usize,
}

pub(crate) fn data_dir() -> PathBuf {
    let root = std::env::var_os("CUTROOM_TEST_DATA").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/cutroom/testdata")
        },
        PathBuf::from,
    );
    let dir = root.join("speakers");
    assert!(
        dir.join(".complete").exists(),
        "{} is missing: run `bash .ci/bench-speakers --data`",
        dir.display()
    );
    dir
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable folder").path())
        .collect();
    paths.sort();
    paths
}

/// Council clips: `council/<meeting>/<member>/<from>-<to>.wav`.
pub(crate) fn council(dir: &Path) -> Vec<Clip> {
    let mut clips = Vec::new();
    for meeting in sorted(&dir.join("council")) {
        for member in sorted(&meeting) {
            for wav in sorted(&member) {
                clips.push(Clip {
                    speaker: name(&member),
                    session: name(&meeting),
                    samples: load(&wav),
                });
            }
        }
    }
    clips
}

/// LibriSpeech readers, a clip each: `libri/libri_NN_spkID.wav`.
pub(crate) fn libri(dir: &Path) -> Vec<Clip> {
    sorted(&dir.join("libri"))
        .iter()
        .map(|wav| {
            let stem = wav.file_stem().unwrap().to_string_lossy().into_owned();
            let speaker = stem.rsplit('_').next().unwrap().to_owned();
            Clip {
                session: speaker.clone(),
                speaker,
                samples: load(wav),
            }
        })
        .collect()
}

/// The AMI excerpts and their RTTM turns.
pub(crate) fn ami(dir: &Path) -> Vec<Meeting> {
    let rttm = fs::read_to_string(dir.join("ami/all.rttm")).expect("all.rttm");
    let mut meetings = Vec::new();
    for wav in sorted(&dir.join("ami")) {
        if wav.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let uri = wav.file_stem().unwrap().to_string_lossy().into_owned();
        let mut names: Vec<String> = Vec::new();
        let mut turns = Vec::new();
        for line in rttm.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || f[0] != "SPEAKER" || f[1] != uri {
                continue;
            }
            let start: f64 = f[3].parse().expect("RTTM onset");
            let length: f64 = f[4].parse().expect("RTTM duration");
            let who = match names.iter().position(|n| n == f[7]) {
                Some(i) => i,
                None => {
                    names.push(f[7].to_owned());
                    names.len() - 1
                }
            };
            turns.push((start, start + length, who));
        }
        meetings.push(Meeting {
            name: uri,
            samples: load(&wav),
            turns,
            speakers: names.len(),
        });
    }
    meetings
}

/// The LibriVox reader's five utterances (`pocketsphinx-testdata`) and
/// jfk.wav.
pub(crate) fn librivox_and_kennedy() -> (Vec<Vec<f32>>, Vec<f32>) {
    let librivox = Path::new("/usr/share/pocketsphinx/test/data/librivox");
    let reader = sorted(librivox)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .map(|p| load(p))
        .collect();
    let jfk = data_dir().parent().unwrap().join("jfk.wav");
    (reader, load(&jfk))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

use cutroom_worker::bench::load_audio as load;

/// A fixed xorshift stream: the same conversations every run.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    /// Uniform in [0, 1).
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `seconds` of quiet room tone (white noise at -65 dBFS RMS).
    pub(crate) fn room(&mut self, out: &mut Vec<f32>, seconds: f64) {
        let amplitude = 10f64.powf(-65.0 / 20.0) * 3f64.sqrt();
        let n = (seconds * RATE) as usize;
        out.extend((0..n).map(|_| ((self.next() * 2.0 - 1.0) * amplitude) as f32));
    }
}

/// A conversation of `speakers`' clips (at most a minute of each): the
/// clips cut into turns of 3-12 s,
/// taken in a shuffled order with no speaker twice in a row when it
/// can be helped, 0.3-0.8 s of room tone between them.
pub(crate) fn conversation(name: String, speakers: &[Vec<&Clip>], random: &mut Random) -> Meeting {
    let mut pools: Vec<Vec<&[f32]>> = speakers
        .iter()
        .map(|clips| {
            let mut turns = Vec::new();
            let mut total = 0;
            for clip in clips {
                let mut rest = &clip.samples[..];
                while rest.len() as f64 / RATE >= 3.0 && (total as f64) < 60.0 * RATE {
                    let len = ((3.0 + 9.0 * random.next()) * RATE) as usize;
                    let len = len.min(rest.len());
                    turns.push(&rest[..len]);
                    total += len;
                    rest = &rest[len..];
                }
            }
            turns
        })
        .collect();
    let mut samples = Vec::new();
    let mut turns = Vec::new();
    let mut last = usize::MAX;
    loop {
        let open: Vec<usize> = (0..pools.len()).filter(|&s| !pools[s].is_empty()).collect();
        if open.is_empty() {
            break;
        }
        let others: Vec<usize> = open.iter().copied().filter(|&s| s != last).collect();
        let from = if others.is_empty() { &open } else { &others };
        let who = from[(random.next() * from.len() as f64) as usize % from.len()];
        let turn = pools[who].remove(0);
        let start = samples.len() as f64 / RATE;
        samples.extend_from_slice(turn);
        turns.push((start, samples.len() as f64 / RATE, who));
        let pause = 0.3 + 0.5 * random.next();
        random.room(&mut samples, pause);
        last = who;
    }
    Meeting {
        name,
        samples,
        turns,
        speakers: speakers.len(),
    }
}

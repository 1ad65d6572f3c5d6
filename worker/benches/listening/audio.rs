//! The benchmark's audio: LibriVox utterances and jfk.wav placed among
//! pauses, near-silence and noise, with where each one is.

use std::{fs, path::Path};

use cutroom_worker::bench::RATE;

use super::{JFK, LIBRIVOX, peers::cache};

/// One utterance placed in the generated audio.
pub(crate) struct Placed {
    pub(crate) text: String,
    /// 0 the LibriVox reader, 1 Kennedy.
    pub(crate) speaker: usize,
    pub(crate) start: f64,
    pub(crate) end: f64,
}

/// A fixed xorshift stream: the same audio every run, without a crate.
pub(crate) struct Random(u64);

impl Random {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `seconds` of white noise at `rms_db` dBFS, at most up to `limit`
    /// samples in `out`.
    fn noise(&mut self, out: &mut Vec<f32>, seconds: f64, rms_db: f64, limit: usize) {
        let amplitude = 10f64.powf(rms_db / 20.0) * 3f64.sqrt();
        let n = ((seconds * f64::from(RATE)) as usize).min(limit.saturating_sub(out.len()));
        out.extend((0..n).map(|_| ((self.next() * 2.0 - 1.0) * amplitude) as f32));
    }
}

/// Room tone between utterances, dBFS RMS (the LibriVox recordings' own
/// floor is about -47).
pub(crate) const ROOM_DB: f64 = -65.0;
/// The noise of the long noisy stretches, dBFS RMS.
pub(crate) const NOISE_DB: f64 = -40.0;

/// Writes `seconds` of speech to `wav` (16 kHz mono 16-bit): the six
/// utterances in turn, each followed by a pause of 0.3-2.5 s of room tone,
/// and after each round a stretch of 6-20 s, alternately room tone and
/// noise. Returns where each utterance went.
pub(crate) fn make_audio(seconds: f64, wav: &Path) -> Vec<Placed> {
    let mut utterances = librivox();
    let jfk = cache("CUTROOM_TEST_DATA", "testdata").join("jfk.wav");
    utterances.push((JFK.to_owned(), 1, load(&jfk)));
    let rate = f64::from(RATE);
    let total = (seconds * rate) as usize;
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut samples = Vec::with_capacity(total);
    let mut placed = Vec::new();
    'rounds: for round in 0.. {
        for (text, speaker, clip) in &utterances {
            if samples.len() + clip.len() > total {
                break 'rounds;
            }
            let start = samples.len() as f64 / rate;
            samples.extend_from_slice(clip);
            placed.push(Placed {
                text: text.clone(),
                speaker: *speaker,
                start,
                end: samples.len() as f64 / rate,
            });
            let pause = 0.3 + 2.2 * random.next();
            random.noise(&mut samples, pause, ROOM_DB, total);
        }
        let stretch = 6.0 + 14.0 * random.next();
        let level = if round % 2 == 0 { ROOM_DB } else { NOISE_DB };
        random.noise(&mut samples, stretch, level, total);
    }
    random.noise(&mut samples, seconds, ROOM_DB, total);
    write_wav(wav, &samples);
    placed
}

/// The LibriVox utterances with the words of the package's
/// `transcription` file (`<s> words </s> (id)` per line).
pub(crate) fn librivox() -> Vec<(String, usize, Vec<f32>)> {
    let file = Path::new(LIBRIVOX).join("transcription");
    let text = fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run `bash .ci/setup --test`)", file.display()));
    text.lines()
        .filter_map(|line| line.rsplit_once(" ("))
        .map(|(said, id)| {
            let said = said.replace("<s>", "").replace("</s>", "");
            let wav = Path::new(LIBRIVOX).join(format!("{}.wav", id.trim_end_matches(')')));
            (said.trim().to_owned(), 0, load(&wav))
        })
        .collect()
}

/// Speakers found, and how much speech time is on the right speaker when
/// each true speaker is matched with at most one label (the best matching,
/// as the diarization error rate counts it), so a voice split in two shows.
pub(crate) fn speakers_note(frames: &[Option<usize>], truth: &[Placed]) -> String {
    let found = frames.iter().flatten().max().map_or(0, |m| m + 1);
    let mut counts = vec![[0usize; 2]; found];
    for u in truth {
        let (a, b) = ((u.start * 100.0) as usize, (u.end * 100.0) as usize);
        for label in frames[a.min(frames.len())..b.min(frames.len())]
            .iter()
            .flatten()
        {
            counts[*label][u.speaker] += 1;
        }
    }
    let all: usize = counts.iter().flatten().sum();
    // Two true speakers: try every pair of distinct labels (or one label).
    let mut right = 0;
    for a in 0..found {
        right = right.max(counts[a][0]).max(counts[a][1]);
        for b in 0..found {
            if a != b {
                right = right.max(counts[a][0] + counts[b][1]);
            }
        }
    }
    let split: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(k, c)| {
            format!(
                "S{}: {:.0} s + {:.0} s",
                k + 1,
                c[0] as f64 / 100.0,
                c[1] as f64 / 100.0
            )
        })
        .collect();
    format!(
        "{found} speakers found (2 speak); {:.1}% of labelled speech on the right one ({})",
        100.0 * right as f64 / all.max(1) as f64,
        split.join(", ")
    )
}

pub(crate) use cutroom_worker::bench::load_audio as load;

/// 16-bit PCM WAV, mono, [`RATE`]: what every program here reads.
pub(crate) fn write_wav(path: &Path, samples: &[f32]) {
    let data = u32::try_from(samples.len() * 2).unwrap();
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&RATE.to_le_bytes());
    bytes.extend_from_slice(&(RATE * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    fs::write(path, bytes).unwrap();
}

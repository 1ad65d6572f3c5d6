//! Voiceprints: what a job keeps of each of its speakers' voices, what the
//! tenant's speaker library holds, and how one is matched against the
//! other. The worker matches a job's speakers when the job ends; the API
//! matches them again, from the kept voiceprints alone, whenever the
//! library changes. Neither decodes audio for it.
//!
//! Matching is the hybrid of the commentator-analytics design: a job's
//! speaker is named when
//! 1. the cosine between its centroid (the mean of all its windows'
//!    embeddings) and an enrolled speaker's centroid (the mean of their
//!    samples) is the highest and reaches [`Thresholds::centroid`], and
//! 2. its segments agree: each segment's nearest enrolled sample (if it
//!    reaches [`Thresholds::vote`]) votes for its speaker, weighted by the
//!    segment's length, and more than half the votes go to that same
//!    speaker.
//!
//! Otherwise it is `unknown`. The search is exact, over every sample of the
//! tenant for the job's model, held as one flat matrix: 100,000 samples of
//! 192 values are 77 MB and one scan of them is a few milliseconds
//! (`docs/benchmarks.md`, "Speaker library"), so an approximate index
//! would buy little and could miss.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::SpeakerModel;

/// Most segments a job keeps per speaker; longer speakers get longer
/// segments.
pub const MAX_SEGMENTS: usize = 64;
/// Shortest speech a sample may be made of, seconds.
pub const MIN_SAMPLE_SECONDS: f64 = 5.0;
/// Longest speech one sample is made of, seconds: enrolling from a longer
/// stretch takes its voice as a whole but records 120 s.
pub const MAX_SAMPLE_SECONDS: f64 = 120.0;

/// The cosines a match must reach, per model. Both are set from the speaker
/// bench's tune half (`bash .ci/bench-speakers`, docs/benchmarks.md): the
/// centroid threshold is the identification threshold that keeps false
/// accepts at or under 2 %; the vote threshold is the equal-error threshold
/// of 2 s clips, about a segment's shortest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub centroid: f32,
    pub vote: f32,
    /// Below this mean cosine between a sample's segments and their centre
    /// the sample is refused as noisy or mixed. A first bound between the
    /// vote and centroid thresholds, not yet swept on the bench data.
    pub consistency: f32,
}

impl Thresholds {
    pub fn of(model: SpeakerModel) -> Self {
        match model {
            SpeakerModel::CamPlus => Self {
                centroid: 0.47,
                vote: 0.32,
                consistency: 0.45,
            },
            SpeakerModel::DVector => Self {
                centroid: 0.82,
                vote: 0.59,
                consistency: 0.7,
            },
        }
    }
}

/// An embedding as stored: little-endian `f32`s, one after another.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The embedding stored by [`to_bytes`]; `None` when the length is not a
/// whole number of `f32`s.
pub fn from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Several embeddings of one length in one blob.
pub fn many_to_bytes(vs: &[Vec<f32>]) -> Vec<u8> {
    vs.iter().flat_map(|v| to_bytes(v)).collect()
}

/// The embeddings of [`many_to_bytes`], `dim` values each.
pub fn many_from_bytes(b: &[u8], dim: usize) -> Option<Vec<Vec<f32>>> {
    let flat = from_bytes(b)?;
    if dim == 0 || !flat.len().is_multiple_of(dim) {
        return None;
    }
    Some(flat.chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

/// `v` scaled to length 1 (unchanged when it is all zeros).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// Cosine of two embeddings of length 1. Eight running sums, which the
/// compiler turns into vector instructions: a plain `zip().sum()` stays one
/// float at a time, since float addition may not be reordered for it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// The weighted mean of `vs`, of length 1.
pub fn centre<'a>(vs: impl IntoIterator<Item = (&'a [f32], f64)>) -> Option<Vec<f32>> {
    let mut sum: Vec<f32> = Vec::new();
    for (v, w) in vs {
        if sum.is_empty() {
            sum = vec![0.0; v.len()];
        }
        for (s, x) in sum.iter_mut().zip(v) {
            *s += x * w as f32;
        }
    }
    (!sum.is_empty()).then(|| unit(&sum))
}

/// A stretch of one speaker's speech in a job, with its embedding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    /// Seconds of speech in it (the stretch less its pauses).
    pub speech: f64,
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

/// What a job keeps of one speaker: enough to match them against a
/// library, or to enrol them, without the audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Voiceprint {
    /// `S1`, `S2`...
    pub label: String,
    pub model: SpeakerModel,
    /// Seconds of speech.
    pub seconds: f64,
    /// Unit mean of the speaker's windows.
    pub centroid: Vec<f32>,
    /// At most [`MAX_SEGMENTS`], in time order.
    pub segments: Vec<Segment>,
}

impl Voiceprint {
    /// Mean cosine of the segments to the centroid, weighted by speech:
    /// how much the stretches sound like one clean voice.
    pub fn consistency(&self) -> f32 {
        let total: f64 = self.segments.iter().map(|s| s.speech).sum();
        if total <= 0.0 {
            return 1.0;
        }
        let sum: f64 = self
            .segments
            .iter()
            .map(|s| f64::from(dot(&s.embedding, &self.centroid)) * s.speech)
            .sum();
        (sum / total) as f32
    }
}

/// Who a job's speaker is, as far as the library can tell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Identity {
    /// The enrolled speaker, or `None` for unknown.
    pub speaker_id: Option<Uuid>,
    /// Cosine of the centroid to the best enrolled speaker's centroid.
    pub similarity: f32,
    /// Share of the speaker's segment speech (0-1) whose nearest sample
    /// belongs to the named speaker.
    pub agreement: f32,
}

impl Identity {
    pub const UNKNOWN: Self = Self {
        speaker_id: None,
        similarity: 0.0,
        agreement: 0.0,
    };
}

/// The tenant's enrolled samples of one model: one flat matrix of unit
/// embeddings, row `i` belonging to `owners[i]`, and each speaker's centre.
#[derive(Clone, Debug, Default)]
pub struct Library {
    dim: usize,
    owners: Vec<Uuid>,
    rows: Vec<f32>,
    centres: Vec<(Uuid, Vec<f32>)>,
}

impl Library {
    /// A library of `samples` (speaker, embedding); samples of another
    /// length than the first are skipped.
    pub fn new(samples: impl IntoIterator<Item = (Uuid, Vec<f32>)>) -> Self {
        let mut lib = Self::default();
        let mut sums: Vec<(Uuid, Vec<f32>)> = Vec::new();
        let mut index: HashMap<Uuid, usize> = HashMap::new();
        for (owner, e) in samples {
            if lib.dim == 0 {
                lib.dim = e.len();
            }
            if e.len() != lib.dim || lib.dim == 0 {
                continue;
            }
            let e = unit(&e);
            match index.get(&owner) {
                Some(&i) => sums[i].1.iter_mut().zip(&e).for_each(|(s, x)| *s += x),
                None => {
                    index.insert(owner, sums.len());
                    sums.push((owner, e.clone()));
                }
            }
            lib.rows.extend_from_slice(&e);
            lib.owners.push(owner);
        }
        lib.centres = sums.into_iter().map(|(o, s)| (o, unit(&s))).collect();
        lib
    }

    pub fn samples(&self) -> usize {
        self.owners.len()
    }

    pub fn speakers(&self) -> usize {
        self.centres.len()
    }

    /// The sample nearest `query` (of length 1): its speaker and cosine.
    pub fn nearest(&self, query: &[f32]) -> Option<(Uuid, f32)> {
        self.nearest_each(&[query])[0]
    }

    /// [`Self::nearest`] of each query, in one pass over the samples (the
    /// matrix is read once, not once a query).
    pub fn nearest_each(&self, queries: &[&[f32]]) -> Vec<Option<(Uuid, f32)>> {
        let mut best: Vec<Option<(usize, f32)>> = vec![None; queries.len()];
        if self.dim > 0 {
            for (i, row) in self.rows.chunks_exact(self.dim).enumerate() {
                for (q, b) in queries.iter().zip(best.iter_mut()) {
                    if q.len() != self.dim {
                        continue;
                    }
                    let d = dot(row, q);
                    if b.is_none_or(|(_, s)| d > s) {
                        *b = Some((i, d));
                    }
                }
            }
        }
        best.into_iter()
            .map(|b| b.map(|(i, d)| (self.owners[i], d)))
            .collect()
    }

    /// Who `voice` is ([`Identity::UNKNOWN`] when the library is empty or
    /// of another length).
    pub fn identify(&self, voice: &Voiceprint, t: Thresholds) -> Identity {
        let Some((best, similarity)) = self
            .centres
            .iter()
            .filter(|(_, c)| c.len() == voice.centroid.len())
            .map(|(o, c)| (*o, dot(c, &voice.centroid)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return Identity::UNKNOWN;
        };
        if similarity < t.centroid {
            // Unknown whatever the votes say: no need to scan the samples.
            return Identity {
                speaker_id: None,
                similarity,
                agreement: 0.0,
            };
        }
        let queries: Vec<&[f32]> = voice
            .segments
            .iter()
            .map(|s| s.embedding.as_slice())
            .collect();
        let mut total = 0.0;
        let mut agree = 0.0;
        for (s, nearest) in voice.segments.iter().zip(self.nearest_each(&queries)) {
            total += s.speech;
            if let Some((owner, cos)) = nearest
                && cos >= t.vote
                && owner == best
            {
                agree += s.speech;
            }
        }
        let agreement = if total > 0.0 {
            (agree / total) as f32
        } else {
            // No segments kept: the centroid speaks for itself.
            1.0
        };
        let named = similarity >= t.centroid && agreement > 0.5;
        Identity {
            speaker_id: named.then_some(best),
            similarity,
            agreement,
        }
    }
}

/// Why a stretch of a job's voice cannot be enrolled.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("only {seconds:.1} s of speech; a sample needs at least {MIN_SAMPLE_SECONDS} s")]
    TooShort { seconds: f64 },
    #[error(
        "the speech does not sound like one clean voice (consistency {consistency:.2}, \
         {needed:.2} needed): noise, music or several people; choose a cleaner stretch"
    )]
    Noisy { consistency: f32, needed: f32 },
    #[error(
        "more than one voice speaks in it ({}); choose speech of one person alone",
        .0.join(", ")
    )]
    SeveralSpeakers(Vec<String>),
}

/// What a new sample is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleVoice {
    /// Unit length.
    pub embedding: Vec<f32>,
    /// Seconds of speech, at most [`MAX_SAMPLE_SECONDS`].
    pub seconds: f64,
}

/// A sample of one of a job's speakers, all of their speech.
pub fn sample_of_speaker(voice: &Voiceprint, t: Thresholds) -> Result<SampleVoice, Refusal> {
    if voice.seconds < MIN_SAMPLE_SECONDS {
        return Err(Refusal::TooShort {
            seconds: voice.seconds,
        });
    }
    let consistency = voice.consistency();
    if consistency < t.consistency {
        return Err(Refusal::Noisy {
            consistency,
            needed: t.consistency,
        });
    }
    Ok(SampleVoice {
        embedding: voice.centroid.clone(),
        seconds: voice.seconds.min(MAX_SAMPLE_SECONDS),
    })
}

/// Share of a recording's speech a second voice may hold before the
/// recording is refused as a sample ([`sample_of_recording`]): a cough or
/// a word from someone else is fine, a conversation is not.
pub const OTHER_VOICE_SHARE: f64 = 0.15;
/// ...and at least this much speech (seconds), below which no voice counts.
pub const OTHER_VOICE_SECONDS: f64 = 2.0;

/// A sample from a recording meant to hold one person (an uploaded file),
/// diarized into `voices`: the voice that speaks most, unless another
/// speaks for at least [`OTHER_VOICE_SHARE`] of it and
/// [`OTHER_VOICE_SECONDS`]. Returns the voice's index in `voices` too.
pub fn sample_of_recording(
    voices: &[Voiceprint],
    t: Thresholds,
) -> Result<(usize, SampleVoice), Refusal> {
    let Some((main, _)) = voices
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
    else {
        return Err(Refusal::TooShort { seconds: 0.0 });
    };
    let total: f64 = voices.iter().map(|v| v.seconds).sum();
    let heard = OTHER_VOICE_SECONDS.max(OTHER_VOICE_SHARE * total);
    let speaking: Vec<String> = voices
        .iter()
        .filter(|v| v.seconds >= heard)
        .map(|v| v.label.clone())
        .collect();
    if speaking.len() > 1 {
        return Err(Refusal::SeveralSpeakers(speaking));
    }
    sample_of_speaker(&voices[main], t).map(|s| (main, s))
}

/// A sample of the speech inside `ranges` (seconds) of a job whose
/// speakers are `voices`: the kept segments that overlap the ranges, each
/// weighted by the speech inside them. Returns the speaker's label too.
/// Segments are the grain (a few seconds each), so a range takes in the
/// segments it overlaps in proportion.
pub fn sample_of_ranges(
    voices: &[Voiceprint],
    ranges: &[(f64, f64)],
    t: Thresholds,
) -> Result<(String, SampleVoice), Refusal> {
    // (label, embedding, seconds of speech inside the ranges)
    let mut picked: Vec<(&str, &[f32], f64)> = Vec::new();
    for v in voices {
        for s in &v.segments {
            let inside: f64 = ranges
                .iter()
                .map(|&(a, b)| (b.min(s.end) - a.max(s.start)).max(0.0))
                .sum();
            let span = s.end - s.start;
            if inside > 0.0 && span > 0.0 {
                picked.push((&v.label, &s.embedding, s.speech * (inside / span).min(1.0)));
            }
        }
    }
    let mut labels: Vec<(&str, f64)> = Vec::new();
    for (l, _, w) in &picked {
        match labels.iter_mut().find(|(x, _)| x == l) {
            Some((_, sum)) => *sum += w,
            None => labels.push((l, *w)),
        }
    }
    // A second voice heard for a second or more is a second speaker.
    let heard: Vec<String> = labels
        .iter()
        .filter(|(_, w)| *w >= 1.0)
        .map(|(l, _)| (*l).to_owned())
        .collect();
    if heard.len() > 1 {
        return Err(Refusal::SeveralSpeakers(heard));
    }
    let Some(&(label, seconds)) = labels.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return Err(Refusal::TooShort { seconds: 0.0 });
    };
    if seconds < MIN_SAMPLE_SECONDS {
        return Err(Refusal::TooShort { seconds });
    }
    let mine: Vec<(&[f32], f64)> = picked
        .iter()
        .filter(|(l, _, _)| *l == label)
        .map(|(_, e, w)| (*e, *w))
        .collect();
    let embedding = centre(mine.iter().copied()).expect("some speech was picked");
    let consistency = (mine
        .iter()
        .map(|(e, w)| f64::from(dot(e, &embedding)) * w)
        .sum::<f64>()
        / seconds) as f32;
    if consistency < t.consistency {
        return Err(Refusal::Noisy {
            consistency,
            needed: t.consistency,
        });
    }
    Ok((
        label.to_owned(),
        SampleVoice {
            embedding,
            seconds: seconds.min(MAX_SAMPLE_SECONDS),
        },
    ))
}

#[cfg(test)]
#[path = "voiceprints_tests.rs"]
mod tests;

//! Who speaks when: speaker embeddings over sliding windows of speech,
//! clustered, smoothed, and written onto the transcript. Produces
//! `speakers.json`.
//!
//! 1. Each speech interval is cut into [`WINDOW`]-second windows every
//!    [`HOP`] seconds, and each window gets a d-vector ([`super::dvector`]).
//! 2. Windows of at least [`RELIABLE`] seconds are clustered agglomeratively
//!    (average linkage on cosine distance, the `kodama` crate) until the
//!    closest clusters are further apart than [`THRESHOLD`], within the
//!    job's `min_speakers`/`max_speakers`. Clusters with less than
//!    [`MIN_SPEAKER_WINDOWS`] windows are voices heard too briefly to be
//!    told apart from noise in the embedding; their windows join the nearest
//!    other speaker. Clusters whose centres are within [`SAME_VOICE`] are
//!    merged. Every window, short ones too, then goes to the nearest
//!    cluster centre.
//! 3. Every 10 ms frame of speech takes the speaker its windows agree on,
//!    and turns shorter than [`MIN_TURN`] seconds of speech join a
//!    neighbouring turn, so speakers do not flip inside a sentence.
//! 4. Words take the speaker of most of their frames; a transcript segment
//!    whose words change speaker is split there.

use std::sync::Arc;

use cutroom_core::{ErrorCode, jobs::SpeakerOptions};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    JobCtx, Output, Progress, Stage, StageError,
    audio::ANALYSIS_RATE,
    dvector::{self, DIM, Embedder},
    silence::Interval,
    transcribe::{Segment, Transcript},
};
use crate::engines::Engines;

/// Length of one embedding window, seconds.
const WINDOW: f64 = 1.5;
/// Step between windows, seconds.
const HOP: f64 = 0.75;
/// Windows shorter than this are labelled but not clustered.
const RELIABLE: f64 = 1.0;
/// Shortest speech that gets an embedding of its own; shorter speech takes
/// the speaker of its neighbours.
const MIN_EMBED: f64 = 0.3;
/// Average-linkage cosine distance at which clustering stops. Windows of
/// one voice merge at up to about 0.4, different voices at 0.6 and more, but
/// a voice can stay split in two (see the speaker tests), which
/// [`SAME_VOICE`] then mends.
pub(crate) const THRESHOLD: f32 = 0.4;
/// Clusters whose centres are closer than this cosine distance are one
/// voice. In the speaker tests, halves of one voice sit 0.19 apart, the two
/// real voices 0.44-0.48 and the synthetic voice 0.69-0.83 from them.
pub(crate) const SAME_VOICE: f32 = 0.3;
/// A cluster of fewer windows (about 3 s of speech) is not a speaker.
const MIN_SPEAKER_WINDOWS: usize = 3;
/// Turns shorter than this much speech join a neighbour.
const MIN_TURN: f64 = 1.0;
/// Most windows clustered; longer files use a longer hop (the clustering
/// holds n²/2 distances).
const MAX_WINDOWS: usize = 4000;
/// Frames per second of the speaker timeline.
const FPS: f64 = 100.0;
/// Windows embedded between two looks at the stop token.
const EMBED_CHUNK: usize = 256;
const FORMAT_VERSION: u32 = 1;

/// The contents of `speakers.json`. Times in seconds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct SpeakerReport {
    pub version: u32,
    pub params: Params,
    /// In order of first appearance: `S1` speaks first.
    pub speakers: Vec<Speaker>,
    /// Stretches of one speaker, in order; silences inside a turn belong to
    /// it.
    pub turns: Vec<Turn>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Params {
    pub min_speakers: Option<u32>,
    pub max_speakers: Option<u32>,
    pub threshold: f32,
    pub window: f64,
    pub hop: f64,
    pub min_turn: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Speaker {
    pub id: String,
    /// Seconds of speech attributed to this speaker.
    pub speaking_time: f64,
    /// Share of all speech, 0-1.
    pub share: f64,
    pub turns: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Turn {
    pub start: f64,
    pub end: f64,
    pub speaker: String,
}

/// The stage: finds the speakers, labels `transcript`'s segments and words,
/// and writes `speakers.json`.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
    transcript: &mut Transcript,
) -> Result<Output, StageError> {
    let engines = Arc::clone(ctx.engines);
    let options = ctx.options.speakers.clone();
    let speech = speech.to_vec();
    let stop = ctx.stop.clone();
    let found = ctx
        .blocking(Stage::Speakers, move |progress| {
            diarize(&engines, &options, &audio, &speech, &stop, progress)
        })
        .await?
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "speaker detection failed; try again later",
            )
            .detail(format!("{e:#}"))
        })?;
    let Some(timeline) = found else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };
    label_transcript(transcript, &timeline);
    let report = timeline.report(&ctx.options.speakers);
    tracing::info!(
        speakers = report.speakers.len(),
        turns = report.turns.len(),
        "speakers found"
    );
    ctx.write_output(
        "speakers.json",
        "application/json",
        serde_json::to_vec_pretty(&report).expect("the report is plain data"),
    )
    .await
    .map(|o| {
        o.made_with([
            ctx.engines.set.silero_vad(),
            ctx.engines.set.speaker_embedder(),
        ])
    })
}

/// Speaker per 10 ms frame of the source; `None` outside speech.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    pub frames: Vec<Option<usize>>,
}

/// The blocking part: embeddings, clustering, smoothing. `Ok(None)` once
/// `stop` fired.
pub(crate) fn diarize(
    engines: &Engines,
    options: &SpeakerOptions,
    audio: &[f32],
    speech: &[Interval],
    stop: &CancellationToken,
    progress: &Progress,
) -> anyhow::Result<Option<Timeline>> {
    let rate = f64::from(ANALYSIS_RATE);
    let duration = audio.len() as f64 / rate;
    let total: f64 = speech.iter().map(|s| s.end - s.start).sum();
    let hop = HOP.max(total / MAX_WINDOWS as f64);
    let window = WINDOW.max(2.0 * hop);
    let windows = windows(speech, window, hop);
    if windows.is_empty() {
        return Ok(Some(Timeline::new(duration, speech)));
    }

    let mut embedder = Embedder::open(
        &engines.set.onnxruntime().path,
        &engines.set.speaker_embedder().path,
        engines.threads,
    )?;
    // The mel frames of every speech interval, end to end; each window
    // names its frames in that buffer.
    let mut mel = Vec::new();
    let mut ranges = Vec::with_capacity(windows.len());
    let mut w = 0;
    for iv in speech {
        let a = ((iv.start * rate) as usize).min(audio.len());
        let b = ((iv.end * rate) as usize).min(audio.len());
        let offset = mel.len();
        mel.extend(embedder.front_end().frames(&audio[a..b]));
        while w < windows.len() && windows[w].start < iv.end {
            let first = offset + ((windows[w].start - iv.start) * FPS).round() as usize;
            let last = offset + ((windows[w].end - iv.start) * FPS).round() as usize;
            ranges.push((first, last.max(first + 1)));
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
        embeddings.extend(embedder.embed(&mel, chunk)?);
        // Embedding is nearly all of the work.
        progress.set(embeddings.len() as f32 / ranges.len() as f32 * 0.9);
    }
    drop(mel);

    let labels = cluster(&windows, &embeddings, options);
    let count = labels.iter().max().map_or(0, |m| m + 1);
    let centroids = centroids(&embeddings, &labels, count);
    let mut timeline = Timeline::new(duration, speech);
    timeline.assign(&windows, &embeddings, &centroids);
    timeline.smooth(MIN_TURN);
    timeline.renumber();
    Ok(Some(timeline))
}

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

/// A speaker index per window.
pub(crate) fn cluster(
    windows: &[Span],
    embeddings: &[[f32; DIM]],
    options: &SpeakerOptions,
) -> Vec<usize> {
    let min = options.min_speakers.map_or(1, |m| m as usize).max(1);
    let max = options
        .max_speakers
        .map_or(usize::MAX, |m| m as usize)
        .max(min);
    let reliable: Vec<usize> = (0..windows.len())
        .filter(|&i| windows[i].end - windows[i].start >= RELIABLE - 1e-9)
        .collect();
    // Too little long speech to tell voices apart: use every window.
    let members: Vec<usize> = if reliable.len() >= 2 {
        reliable
    } else {
        (0..windows.len()).collect()
    };
    let n = members.len();
    if n <= 1 || max == 1 {
        return vec![0; windows.len()];
    }

    let mut condensed = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let d = 1.0 - dvector::cosine(&embeddings[members[i]], &embeddings[members[j]]);
            condensed.push(d.max(0.0));
        }
    }
    let dendrogram = kodama::linkage(&mut condensed, n, kodama::Method::Average);

    // Replay the merges, closest first, while they are within the threshold
    // (or more clusters than allowed remain), never below `min`.
    let mut sets = DisjointSets::new(2 * n);
    let mut clusters = n;
    for (k, step) in dendrogram.steps().iter().enumerate() {
        if clusters <= min {
            break;
        }
        if step.dissimilarity > THRESHOLD && clusters <= max {
            break;
        }
        // kodama numbers the cluster made by step k as n + k.
        sets.union(step.cluster1, n + k);
        sets.union(step.cluster2, n + k);
        clusters -= 1;
    }
    let mut label_of_root = std::collections::HashMap::new();
    let mut member_labels = vec![0usize; n];
    for (i, l) in member_labels.iter_mut().enumerate() {
        let root = sets.find(i);
        let next = label_of_root.len();
        *l = *label_of_root.entry(root).or_insert(next);
    }

    // Clusters too small to be a speaker give their windows to the nearest
    // remaining one, as long as `min` clusters stay.
    let member_embeddings: Vec<[f32; DIM]> = members.iter().map(|&m| embeddings[m]).collect();
    let mut count = label_of_root.len();
    loop {
        let mut sizes = vec![0usize; count];
        for &l in &member_labels {
            sizes[l] += 1;
        }
        let Some((smallest, &size)) = sizes.iter().enumerate().min_by_key(|(_, s)| **s) else {
            break;
        };
        if size >= MIN_SPEAKER_WINDOWS || count <= min {
            break;
        }
        let member_embeddings: Vec<[f32; DIM]> = members.iter().map(|&m| embeddings[m]).collect();
        let centres = centroids(&member_embeddings, &member_labels, count);
        for (i, l) in member_labels.iter_mut().enumerate() {
            if *l == smallest {
                *l = nearest(&member_embeddings[i], &centres, Some(smallest));
            }
        }
        // Close the gap left by `smallest`.
        for l in &mut member_labels {
            if *l > smallest {
                *l -= 1;
            }
        }
        count -= 1;
    }

    // Parts of one voice that average linkage kept apart have centres
    // much closer than two voices do: merge the closest pair while they
    // are within [`SAME_VOICE`], as long as `min` clusters stay.
    while count > min {
        let centres = centroids(&member_embeddings, &member_labels, count);
        let mut closest = (f32::MAX, 0, 0);
        for a in 0..count {
            for b in a + 1..count {
                let d = 1.0 - dvector::cosine(&centres[a], &centres[b]);
                if d < closest.0 {
                    closest = (d, a, b);
                }
            }
        }
        let (d, keep, gone) = closest;
        if d > SAME_VOICE {
            break;
        }
        for l in &mut member_labels {
            if *l == gone {
                *l = keep;
            } else if *l > gone {
                *l -= 1;
            }
        }
        count -= 1;
    }

    // Every window, clustered or not, to the nearest centre.
    let centres = centroids(&member_embeddings, &member_labels, count);
    if tracing::enabled!(tracing::Level::DEBUG) {
        let mut apart = Vec::new();
        for a in 0..count {
            for b in a + 1..count {
                apart.push(1.0 - dvector::cosine(&centres[a], &centres[b]));
            }
        }
        tracing::debug!(speakers = count, centre_distances = ?apart, "speakers clustered");
    }
    embeddings
        .iter()
        .map(|e| nearest(e, &centres, None))
        .collect()
}

fn centroids(embeddings: &[[f32; DIM]], labels: &[usize], count: usize) -> Vec<[f32; DIM]> {
    let mut sums = vec![[0.0f32; DIM]; count];
    for (e, &l) in embeddings.iter().zip(labels) {
        for (s, x) in sums[l].iter_mut().zip(e) {
            *s += x;
        }
    }
    sums.iter().map(|s| dvector::unit(s)).collect()
}

fn nearest(e: &[f32; DIM], centres: &[[f32; DIM]], except: Option<usize>) -> usize {
    (0..centres.len())
        .filter(|&k| Some(k) != except)
        .max_by(|&a, &b| {
            dvector::cosine(e, &centres[a]).total_cmp(&dvector::cosine(e, &centres[b]))
        })
        .unwrap_or(0)
}

impl Timeline {
    /// Speech frames with no speaker yet.
    fn new(duration: f64, speech: &[Interval]) -> Self {
        let len = (duration * FPS).ceil() as usize;
        let mut frames = vec![None; len];
        for iv in speech {
            let (a, b) = frame_range(iv.start, iv.end, len);
            for f in &mut frames[a..b] {
                // Placeholder until `assign`; speech frames of a file with
                // no usable window all belong to one speaker.
                *f = Some(0);
            }
        }
        Self { frames }
    }

    /// Gives each speech frame the speaker whose centre the windows
    /// covering it are closest to on the whole; frames no window covers
    /// take the nearest labelled frame's speaker.
    fn assign(&mut self, windows: &[Span], embeddings: &[[f32; DIM]], centres: &[[f32; DIM]]) {
        let k = centres.len().max(1);
        let len = self.frames.len();
        let mut scores = vec![0.0f32; len * k];
        let mut covered = vec![false; len];
        for (w, e) in windows.iter().zip(embeddings) {
            let (a, b) = frame_range(w.start, w.end, len);
            let sims: Vec<f32> = centres.iter().map(|c| dvector::cosine(e, c)).collect();
            for f in a..b {
                covered[f] = true;
                for (s, sim) in scores[f * k..(f + 1) * k].iter_mut().zip(&sims) {
                    *s += sim;
                }
            }
        }
        for f in 0..len {
            if self.frames[f].is_some() && covered[f] {
                let row = &scores[f * k..(f + 1) * k];
                let best = (0..k)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                self.frames[f] = Some(best);
            }
        }
        // Uncovered speech (too short to embed) takes the nearest covered
        // frame's speaker: one pass forward, one back, keeping the closer.
        let mut from_left: Vec<Option<(usize, usize)>> = vec![None; len];
        let mut last = None;
        for f in 0..len {
            if covered[f] && self.frames[f].is_some() {
                last = self.frames[f].map(|s| (s, f));
            }
            from_left[f] = last;
        }
        let mut next: Option<(usize, usize)> = None;
        for f in (0..len).rev() {
            if covered[f] && self.frames[f].is_some() {
                next = self.frames[f].map(|s| (s, f));
                continue;
            }
            if self.frames[f].is_none() {
                continue;
            }
            let left = from_left[f].map(|(s, at)| (s, f - at));
            let right = next.map(|(s, at)| (s, at - f));
            self.frames[f] = match (left, right) {
                (Some(l), Some(r)) => Some(if l.1 <= r.1 { l.0 } else { r.0 }),
                (Some(l), None) => Some(l.0),
                (None, Some(r)) => Some(r.0),
                (None, None) => Some(0),
            };
        }
    }

    /// Runs of one speaker over speech frames (silence skipped): (speaker,
    /// first frame, last frame exclusive, speech frames).
    fn runs(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (f, s) in self.frames.iter().enumerate() {
            let Some(s) = *s else { continue };
            match runs.last_mut() {
                Some(r) if r.0 == s => {
                    r.2 = f + 1;
                    r.3 += 1;
                }
                _ => runs.push((s, f, f + 1, 1)),
            }
        }
        runs
    }

    /// Turns with less than `min_turn` seconds of speech join the
    /// neighbour on the side with more speech, shortest first.
    fn smooth(&mut self, min_turn: f64) {
        let min_frames = (min_turn * FPS) as usize;
        loop {
            let runs = self.runs();
            if runs.len() < 2 {
                return;
            }
            let Some((i, run)) = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.3 < min_frames)
                .min_by_key(|(_, r)| r.3)
            else {
                return;
            };
            let before = i.checked_sub(1).map(|j| runs[j]);
            let after = runs.get(i + 1).copied();
            let to = match (before, after) {
                (Some(b), Some(a)) => {
                    if b.3 >= a.3 {
                        b.0
                    } else {
                        a.0
                    }
                }
                (Some(b), None) => b.0,
                (None, Some(a)) => a.0,
                (None, None) => return,
            };
            for f in &mut self.frames[run.1..run.2] {
                if f.is_some() {
                    *f = Some(to);
                }
            }
        }
    }

    /// Speaker numbers in order of first appearance, without gaps.
    fn renumber(&mut self) {
        let mut map: Vec<Option<usize>> = Vec::new();
        let mut next = 0;
        for f in self.frames.iter_mut().flatten() {
            if *f >= map.len() {
                map.resize(*f + 1, None);
            }
            let n = *map[*f].get_or_insert_with(|| {
                next += 1;
                next - 1
            });
            *f = n;
        }
    }

    /// Most frequent speaker over `[start, end)`, or of the nearest speech
    /// frame when none of it is speech.
    pub fn speaker_at(&self, start: f64, end: f64) -> Option<usize> {
        let (a, b) = frame_range(start, end, self.frames.len());
        let mut counts: Vec<usize> = Vec::new();
        for s in self.frames[a..b.max(a)].iter().flatten() {
            if *s >= counts.len() {
                counts.resize(*s + 1, 0);
            }
            counts[*s] += 1;
        }
        if let Some((s, _)) = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .max_by_key(|(_, c)| **c)
        {
            return Some(s);
        }
        // Nearest speech frame on either side.
        let len = self.frames.len();
        let mid = a.min(len.saturating_sub(1));
        (0..len).find_map(|d| {
            let left = mid.checked_sub(d).and_then(|f| self.frames[f]);
            let right = self.frames.get(mid + d).copied().flatten();
            left.or(right)
        })
    }

    fn report(&self, options: &SpeakerOptions) -> SpeakerReport {
        let runs = self.runs();
        let count = self.frames.iter().flatten().max().map_or(0, |m| m + 1);
        let total = self.frames.iter().flatten().count() as f64 / FPS;
        let mut speakers: Vec<Speaker> = (0..count)
            .map(|s| Speaker {
                id: label(s),
                speaking_time: 0.0,
                share: 0.0,
                turns: 0,
            })
            .collect();
        let mut turns = Vec::with_capacity(runs.len());
        for &(s, a, b, n) in &runs {
            speakers[s].speaking_time += n as f64 / FPS;
            speakers[s].turns += 1;
            turns.push(Turn {
                start: round_ms(a as f64 / FPS),
                end: round_ms(b as f64 / FPS),
                speaker: label(s),
            });
        }
        for sp in &mut speakers {
            sp.share = if total > 0.0 {
                (sp.speaking_time / total * 1000.0).round() / 1000.0
            } else {
                0.0
            };
            sp.speaking_time = round_ms(sp.speaking_time);
        }
        SpeakerReport {
            version: FORMAT_VERSION,
            params: Params {
                min_speakers: options.min_speakers,
                max_speakers: options.max_speakers,
                threshold: THRESHOLD,
                window: WINDOW,
                hop: HOP,
                min_turn: MIN_TURN,
            },
            speakers,
            turns,
        }
    }
}

/// Frames whose centres lie in `[start, end)`.
fn frame_range(start: f64, end: f64, len: usize) -> (usize, usize) {
    let a = ((start * FPS - 0.5).ceil().max(0.0) as usize).min(len);
    let b = ((end * FPS - 0.5).ceil().max(0.0) as usize).min(len);
    (a, b.max(a))
}

/// `S1`, `S2`, ...
pub(crate) fn label(speaker: usize) -> String {
    format!("S{}", speaker + 1)
}

/// Labels every word and segment, splitting segments where the speaker
/// changes between two words.
pub(crate) fn label_transcript(transcript: &mut Transcript, timeline: &Timeline) {
    let mut out: Vec<Segment> = Vec::with_capacity(transcript.segments.len());
    for mut segment in std::mem::take(&mut transcript.segments) {
        for w in &mut segment.words {
            w.speaker = timeline.speaker_at(w.start, w.end).map(label);
        }
        let changes = segment
            .words
            .windows(2)
            .any(|p| p[0].speaker != p[1].speaker);
        if !changes {
            segment.speaker = segment
                .words
                .first()
                .and_then(|w| w.speaker.clone())
                .or_else(|| timeline.speaker_at(segment.start, segment.end).map(label));
            out.push(segment);
            continue;
        }
        let mut words = std::mem::take(&mut segment.words).into_iter().peekable();
        while let Some(first) = words.next() {
            let mut part = vec![first];
            while let Some(w) = words.next_if(|w| w.speaker == part[0].speaker) {
                part.push(w);
            }
            let p: Vec<f32> = part.iter().map(|w| w.probability).collect();
            out.push(Segment {
                id: 0,
                start: part[0].start,
                end: part[part.len() - 1].end,
                text: part
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                speaker: part[0].speaker.clone(),
                confidence: (p.iter().sum::<f32>() / p.len() as f32 * 1000.0).round() / 1000.0,
                words: part,
            });
        }
    }
    for (id, s) in out.iter_mut().enumerate() {
        s.id = id;
    }
    transcript.segments = out;
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// Union-find over kodama's cluster numbers. Hand-written: a dozen lines,
/// smaller than a dependency.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::transcribe::Word;

    fn timeline(runs: &[(Option<usize>, usize)]) -> Timeline {
        let mut frames = Vec::new();
        for &(s, n) in runs {
            frames.extend(std::iter::repeat_n(s, n));
        }
        Timeline { frames }
    }

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

    #[test]
    fn short_turns_join_a_neighbour_and_silence_stays_silence() {
        // S0 2 s, silence, S1 0.3 s, S0 1.5 s, S1 3 s.
        let mut t = timeline(&[
            (Some(0), 200),
            (None, 50),
            (Some(1), 30),
            (Some(0), 150),
            (Some(1), 300),
        ]);
        t.smooth(1.0);
        let runs: Vec<(usize, usize)> = t.runs().iter().map(|r| (r.0, r.3)).collect();
        assert_eq!(runs, [(0, 380), (1, 300)]);
        assert!(t.frames[200..250].iter().all(Option::is_none));
    }

    #[test]
    fn speakers_are_numbered_by_first_appearance() {
        let mut t = timeline(&[(Some(3), 10), (None, 5), (Some(1), 10), (Some(3), 10)]);
        t.renumber();
        assert_eq!(t.frames[0], Some(0));
        assert_eq!(t.frames[15], Some(1));
        assert_eq!(t.frames[25], Some(0));
        assert_eq!(t.speaker_at(0.05, 0.08), Some(0));
        // In silence: the nearest speech.
        assert_eq!(t.speaker_at(0.11, 0.12), Some(0));
    }

    #[test]
    fn a_segment_is_split_where_the_speaker_changes() {
        // S1 for the first second, S2 for the next.
        let t = timeline(&[(Some(0), 100), (Some(1), 100)]);
        let word = |text: &str, start, end| Word {
            start,
            end,
            text: text.into(),
            probability: 0.5,
            speaker: None,
        };
        let mut transcript = Transcript {
            segments: vec![Segment {
                id: 0,
                start: 0.1,
                end: 1.8,
                text: "yes I think so".into(),
                speaker: None,
                confidence: 0.5,
                words: vec![
                    word("yes", 0.1, 0.4),
                    word("I", 1.1, 1.2),
                    word("think", 1.2, 1.5),
                    word("so", 1.5, 1.8),
                ],
            }],
            ..Transcript::default()
        };
        label_transcript(&mut transcript, &t);
        let s = &transcript.segments;
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].id, s[0].text.as_str(), s[0].speaker.as_deref()),
            (0, "yes", Some("S1"))
        );
        assert_eq!(
            (
                s[1].id,
                s[1].text.as_str(),
                s[1].speaker.as_deref(),
                s[1].start
            ),
            (1, "I think so", Some("S2"), 1.1)
        );
        assert!(
            s[1].words
                .iter()
                .all(|w| w.speaker.as_deref() == Some("S2"))
        );
    }
}

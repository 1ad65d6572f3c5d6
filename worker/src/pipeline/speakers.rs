//! Who speaks when: speaker embeddings over sliding windows of speech,
//! clustered, smoothed, and written onto the transcript. Produces
//! `speakers.json`.
//!
//! 1. Each speech interval is cut into [`WINDOW`]-second windows every
//!    [`HOP`] seconds, and each window gets an embedding of the configured
//!    speaker model ([`super::voice`]).
//! 2. Windows of at least [`RELIABLE`] seconds are clustered agglomeratively
//!    (average linkage on cosine distance, the `kodama` crate) until the
//!    closest clusters are further apart than the model's
//!    [`Tuning::threshold`], within the job's `min_speakers`/`max_speakers`.
//!    Clusters with less than [`MIN_SPEAKER_WINDOWS`] windows are voices
//!    heard too briefly to be told apart from noise in the embedding; their
//!    windows join the nearest other speaker. Clusters whose centres are
//!    within [`Tuning::same_voice`] are merged. Every window, short ones
//!    too, then goes to the nearest cluster centre.
//! 3. Every 10 ms frame of speech takes the speaker its windows agree on,
//!    and turns shorter than [`MIN_TURN`] seconds of speech join a
//!    neighbouring turn, so speakers do not flip inside a sentence.
//! 4. Words take the speaker of most of their frames; a transcript segment
//!    whose words change speaker is split there.
//!
//! 5. Each speaker's voiceprint is kept ([`prints`]) and matched against the
//!    tenant's speaker library (`cutroom_core::voiceprints`); named
//!    speakers carry their name in `speakers.json`.
//!
//! The parts: [`embed`] (step 1), [`cluster`] (2), [`timeline`] (3),
//! [`labels`] (4) and [`prints`] (5); the tuning constants of every step
//! are here.

use std::sync::Arc;

use cutroom_core::{
    ErrorCode,
    config::SpeakerModel,
    jobs::SpeakerOptions,
    queries::speakers as library,
    voiceprints::{Identity, Thresholds, Voiceprint},
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    JobCtx, Output, Progress, Stage, StageError, audio::ANALYSIS_RATE, silence::Interval,
    transcribe::Transcript,
};
use crate::engines::Engines;

mod cluster;
mod embed;
mod labels;
mod prints;
mod timeline;

use cluster::{centroids, cluster};
use embed::{embed, windows};
pub(crate) use labels::{label, label_transcript};
pub(crate) use timeline::Timeline;

/// Length of one embedding window, seconds.
const WINDOW: f64 = 1.5;
/// Step between windows, seconds.
const HOP: f64 = 0.75;
/// Windows shorter than this are labelled but not clustered.
const RELIABLE: f64 = 1.0;
/// Shortest speech that gets an embedding of its own; shorter speech takes
/// the speaker of its neighbours.
const MIN_EMBED: f64 = 0.3;
/// The distances clustering decides by. They are distances between one
/// model's embeddings, so each model has its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tuning {
    /// Average-linkage cosine distance at which clustering stops.
    pub threshold: f32,
    /// Clusters whose centres are closer than this cosine distance are
    /// one voice.
    pub same_voice: f32,
}

impl Tuning {
    pub fn of(model: SpeakerModel) -> Self {
        match model {
            // Windows of one voice merge at up to about 0.4, different
            // voices at 0.6 and more, but a voice can stay split in two
            // (see the speaker tests): halves of one voice sit 0.19 apart,
            // the two real voices 0.44-0.48 and the synthetic voice
            // 0.69-0.83 from them.
            SpeakerModel::DVector => Self {
                threshold: 0.4,
                same_voice: 0.3,
            },
            // Set from the verification error rate on 2 s clips (its
            // threshold, 0.32 cosine, is a distance of 0.68; windows are
            // 1.5 s) before the distances were swept; docs/benchmarks.md
            // ("Speakers") has the sweep and the held-out results.
            SpeakerModel::CamPlus => Self {
                threshold: 0.65,
                same_voice: 0.45,
            },
        }
    }
}
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
    /// The speaker model: `campplus` or `dvector`.
    pub model: &'static str,
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
    /// The tenant's speaker library's name for this voice, when it knew
    /// them as the job ended; the API's `/v1/jobs/{id}/speakers` has
    /// the names as they are now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The library speaker's id, beside `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaker_id: Option<Uuid>,
    /// Share of the speaker's segments that agree on the name (0-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
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
/// keeps their voiceprints, names those the tenant's library knows, and
/// writes `speakers.json`.
pub(crate) async fn run(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
    transcript: &mut Transcript,
) -> Result<Output, StageError> {
    let model = ctx.engines.speaker_model;
    let (timeline, prints) = find_voices(ctx, audio, speech, ctx.options.speakers.clone()).await?;
    label_transcript(transcript, &timeline);
    let mut report = timeline.report(&ctx.options.speakers, model);
    let named = identify(ctx, &prints).await?;
    for sp in &mut report.speakers {
        if let Some((id, name, confidence)) = named.iter().find(|n| n.0 == sp.id).map(|n| &n.1) {
            sp.speaker_id = Some(*id);
            sp.name = Some(name.clone());
            sp.confidence = Some(*confidence);
        }
    }
    tracing::info!(
        speakers = report.speakers.len(),
        named = named.len(),
        turns = report.turns.len(),
        "speakers found"
    );
    ctx.write_output(
        "speakers.json",
        "application/json",
        serde_json::to_vec_pretty(&report).expect("the report is plain data"),
    )
    .await
    .map(|o| o.made_with([ctx.engines.set.silero_vad(), ctx.engines.speaker_file()]))
}

/// Embeds and diarizes `speech` within `options`' bounds, off the async
/// threads: the speakers' timeline and their voiceprints.
pub(crate) async fn find_voices(
    ctx: &JobCtx<'_>,
    audio: Arc<Vec<f32>>,
    speech: &[Interval],
    options: SpeakerOptions,
) -> Result<(Timeline, Vec<Voiceprint>), StageError> {
    let engines = Arc::clone(ctx.engines);
    let speech = speech.to_vec();
    let stop = ctx.stop.clone();
    let model = ctx.engines.speaker_model;
    let found = ctx
        .blocking(Stage::Speakers, move |progress| {
            let Some(embedded) = Embedded::new(&engines, &audio, &speech, &stop, progress)? else {
                return Ok(None);
            };
            let timeline = embedded.diarize(&options, Tuning::of(model));
            let prints = embedded.voiceprints(&timeline, model);
            anyhow::Ok(Some((timeline, prints)))
        })
        .await?
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "speaker detection failed; try again later",
            )
            .detail(format!("{e:#}"))
        })?;
    found.ok_or_else(|| StageError::Stopped(ctx.stop_reason()))
}

/// Keeps the job's voiceprints and matches them against the tenant's
/// library: `(label, (speaker id, name, confidence))` of those named.
async fn identify(
    ctx: &JobCtx<'_>,
    prints: &[Voiceprint],
) -> Result<Vec<(String, (Uuid, String, f32))>, StageError> {
    let db = &ctx.db.orm;
    let tenant = ctx.job.tenant_id;
    let model = ctx.engines.speaker_model;
    let lib = library::library(db, tenant, model).await?;
    let thresholds = Thresholds::of(model);
    let mut rows = Vec::with_capacity(prints.len());
    let mut named = Vec::new();
    for print in prints {
        let identity = if lib.speakers() > 0 {
            lib.identify(print, thresholds)
        } else {
            Identity::UNKNOWN
        };
        if let Some(id) = identity.speaker_id
            && let Some(sp) = library::get(db, tenant, id).await?
        {
            named.push((print.label.clone(), (id, sp.name, identity.agreement)));
        }
        rows.push(library::job_speaker_row(
            tenant, ctx.job.id, print, identity,
        ));
    }
    library::replace_job_speakers(db, tenant, ctx.job.id, rows).await?;
    Ok(named)
}

/// The blocking part: embeddings, clustering, smoothing. `Ok(None)` once
/// `stop` fired. (The stage itself also keeps the embeddings for the
/// voiceprints.)
#[cfg(any(test, feature = "bench"))]
pub(crate) fn diarize(
    engines: &Engines,
    options: &SpeakerOptions,
    audio: &[f32],
    speech: &[Interval],
    stop: &CancellationToken,
    progress: &Progress,
) -> anyhow::Result<Option<Timeline>> {
    let Some(embedded) = Embedded::new(engines, audio, speech, stop, progress)? else {
        return Ok(None);
    };
    Ok(Some(
        embedded.diarize(options, Tuning::of(engines.speaker_model)),
    ))
}

/// Speech cut into windows, each with its embedding: the expensive half of
/// diarization, which the rest decides from.
pub(crate) struct Embedded {
    duration: f64,
    speech: Vec<Interval>,
    windows: Vec<embed::Span>,
    embeddings: Vec<Vec<f32>>,
}

impl Embedded {
    /// `Ok(None)` once `stop` fired.
    pub fn new(
        engines: &Engines,
        audio: &[f32],
        speech: &[Interval],
        stop: &CancellationToken,
        progress: &Progress,
    ) -> anyhow::Result<Option<Self>> {
        let rate = f64::from(ANALYSIS_RATE);
        let total: f64 = speech.iter().map(|s| s.end - s.start).sum();
        let hop = HOP.max(total / MAX_WINDOWS as f64);
        let window = WINDOW.max(2.0 * hop);
        let windows = windows(speech, window, hop);
        let embeddings = if windows.is_empty() {
            Vec::new()
        } else {
            match embed(engines, audio, speech, &windows, stop, progress)? {
                Some(e) => e,
                None => return Ok(None),
            }
        };
        Ok(Some(Self {
            duration: audio.len() as f64 / rate,
            speech: speech.to_vec(),
            windows,
            embeddings,
        }))
    }

    /// Clustering, the frames' speakers and smoothing.
    pub fn diarize(&self, options: &SpeakerOptions, tuning: Tuning) -> Timeline {
        let mut timeline = Timeline::new(self.duration, &self.speech);
        if self.windows.is_empty() {
            return timeline;
        }
        let labels = cluster(&self.windows, &self.embeddings, options, tuning);
        let count = labels.iter().max().map_or(0, |m| m + 1);
        let centroids = centroids(&self.embeddings, &labels, count);
        timeline.assign(&self.windows, &self.embeddings, &centroids);
        timeline.smooth(MIN_TURN);
        timeline.renumber();
        timeline
    }

    /// The voiceprints of `timeline`'s speakers (made by [`Self::diarize`]).
    pub fn voiceprints(&self, timeline: &Timeline, model: SpeakerModel) -> Vec<Voiceprint> {
        prints::voiceprints(timeline, &self.windows, &self.embeddings, model)
    }
}

impl Timeline {
    /// `speakers.json`: the speakers and their turns on this timeline.
    pub(crate) fn report(&self, options: &SpeakerOptions, model: SpeakerModel) -> SpeakerReport {
        let tuning = Tuning::of(model);
        let runs = self.runs();
        let count = self.frames.iter().flatten().max().map_or(0, |m| m + 1);
        let total = self.frames.iter().flatten().count() as f64 / FPS;
        let mut speakers: Vec<Speaker> = (0..count)
            .map(|s| Speaker {
                id: label(s),
                name: None,
                speaker_id: None,
                confidence: None,
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
                model: model.as_str(),
                min_speakers: options.min_speakers,
                max_speakers: options.max_speakers,
                threshold: tuning.threshold,
                window: WINDOW,
                hop: HOP,
                min_turn: MIN_TURN,
            },
            speakers,
            turns,
        }
    }
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

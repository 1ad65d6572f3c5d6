//! `clips.json`, the manifest written to storage beside the clips: what
//! was asked for, each clip as published, what was skipped and why, and
//! the whole-video edit decision lists written with it. Its own module
//! because a full run, a re-render and a job with no clips at all end the
//! same way: with these files.

use cutroom_core::{
    ErrorCode,
    clips::{ClipFormat, ClipOptions, Reframe},
};
use serde::Serialize;

use super::{Clips, Inputs, edit, look};
use crate::pipeline::{JobCtx, Output, StageError};

pub(crate) const MANIFEST: &str = "clips.json";

/// Bumped when the manifest's shape changes incompatibly.
const FORMAT_VERSION: u32 = 1;

/// `clips.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Manifest {
    pub version: u32,
    pub formats: Vec<ClipFormat>,
    pub reframe: Reframe,
    pub loudness_target: f64,
    pub captions_burned: bool,
    /// Why `speaker` framing fell back to a centred crop for every clip,
    /// when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framing_note: Option<String>,
    /// Why no clip was rendered at all, when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the clips of a source without a picture were drawn, when they
    /// are audiograms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audiogram: Option<look::AudiogramNote>,
    pub clips: Vec<ManifestClip>,
    /// Highlights that were chosen but gave no clip, and why.
    pub skipped: Vec<Skipped>,
    /// The whole-video edit decision lists.
    pub edits: Edits,
}

impl Manifest {
    /// The manifest of a job's `options`, before any clip is made.
    pub(super) fn new(options: &ClipOptions) -> Self {
        Manifest {
            version: FORMAT_VERSION,
            formats: options.formats.clone(),
            reframe: options.reframe,
            loudness_target: options.loudness_target,
            captions_burned: options.captions.burn,
            framing_note: None,
            note: None,
            audiogram: None,
            clips: Vec::new(),
            skipped: Vec::new(),
            edits: Edits::default(),
        }
    }
}

/// `highlights.edl`, `tightened.edl` and `edit.otio`: the clips back to
/// back, and the video without its long silences.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Edits {
    pub files: Vec<&'static str>,
    /// Silences at least this long are cut from the tightened edit...
    pub min_silence_seconds: f64,
    /// ...keeping this much beside the speech.
    pub margin_seconds: f64,
    pub silences_removed: usize,
    pub seconds_saved: f64,
    /// Timecode rate of the EDLs (non-drop).
    pub timecode_fps: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct ManifestClip {
    pub index: u32,
    /// The highlight it was cut from...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight_rank: Option<i32>,
    /// ...or, in a re-render, the range asked for (`ranges[range]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<usize>,
    pub title: String,
    pub hook: String,
    pub score: u32,
    /// `video`, cut from the source's picture, or `audiogram`, drawn from
    /// its sound (a source without a picture).
    pub kind: &'static str,
    /// The cut on the source's timeline, seconds.
    pub source_start: f64,
    pub source_end: f64,
    pub duration: f64,
    /// `ready`, or `held` by moderation flags over it until a reviewer
    /// approves them (as rendered; the API has the state now).
    pub moderation: &'static str,
    pub loudness: ClipLoudness,
    /// How `speaker` framing framed the clip, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framing: Option<Framing>,
    /// The pauses cut out of the clip, when tightening was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tightened: Option<Tightened>,
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Framing {
    /// Each framing from `start` (seconds into the clip as rendered), on
    /// the face centred at `x`, `y` (fractions of the source picture).
    /// Empty when the clip fell back to a centred crop.
    pub shots: Vec<FramingShot>,
    /// Frames the face detector looked at, and how many had a face.
    pub frames_sampled: usize,
    pub frames_with_faces: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct FramingShot {
    pub start: f64,
    pub x: f64,
    pub y: f64,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Tightened {
    /// Each pause cut out, `[start, end]` on the source's timeline.
    pub cuts: Vec<[f64; 2]>,
    /// The cut's length less the clip's `duration`.
    pub seconds_saved: f64,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ClipLoudness {
    /// The source's integrated loudness over the cut, as the loudness
    /// stage measured it; `null` for silence.
    pub source_lufs: Option<f64>,
    /// The gain applied before the peak limiter, fitted so the clip lands
    /// on the target.
    pub gain_db: f64,
    /// The clip's integrated loudness and true peak as rendered (before
    /// AAC encoding).
    pub lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct ManifestFile {
    /// The artifact's name.
    pub name: String,
    /// `video`, `srt`, `vtt`, `thumbnail` or `preview` (a few muted
    /// seconds, small, for browsing).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<ClipFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub content_type: &'static str,
    pub size_bytes: u64,
    pub sha256: String,
    /// For a video smart-rendered: how many of its frames are the source's
    /// own H.264, copied rather than encoded again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_copied: Option<u64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Skipped {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight_rank: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<usize>,
    pub code: &'static str,
    pub message: String,
}

/// Where a clip came from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Origin {
    /// The analysis's highlight of this rank (1 is the best).
    Highlight(i32),
    /// A re-render's range at this position in `ranges`.
    Range(usize),
}

impl Origin {
    pub(super) fn new(k: usize, ranked: bool) -> Self {
        if ranked {
            Origin::Highlight(i32::try_from(k + 1).unwrap_or(i32::MAX))
        } else {
            Origin::Range(k)
        }
    }

    pub(super) fn rank(self) -> Option<i32> {
        match self {
            Origin::Highlight(rank) => Some(rank),
            Origin::Range(_) => None,
        }
    }

    pub(super) fn range(self) -> Option<usize> {
        match self {
            Origin::Highlight(_) => None,
            Origin::Range(k) => Some(k),
        }
    }

    pub(super) fn noun(self) -> &'static str {
        match self {
            Origin::Highlight(_) => "highlight",
            Origin::Range(_) => "range",
        }
    }
}

/// Records a clip that was chosen but not rendered.
pub(super) fn skip(manifest: &mut Manifest, made_from: Origin, index: u32, message: String) {
    tracing::warn!(index, %message, "clip not rendered");
    manifest.skipped.push(Skipped {
        highlight_rank: made_from.rank(),
        range: made_from.range(),
        code: ErrorCode::UnsupportedMedia.as_str(),
        message,
    });
}

/// The stage's last files, whether or not any clip was made: the edit
/// decision lists (`clips` back to back, at `fps`) and the manifest,
/// after the clips' own `outputs`.
pub(super) async fn finish(
    ctx: &JobCtx<'_>,
    input: &Inputs<'_>,
    fps: f64,
    mut manifest: Manifest,
    mut outputs: Vec<Output>,
    rows: Vec<cutroom_entities::clip::Model>,
) -> Result<Clips, StageError> {
    let cut: Vec<edit::Event> = manifest
        .clips
        .iter()
        .map(|c| edit::Event {
            start: c.source_start,
            end: c.source_end,
            name: format!("{}. {}", c.index, c.title),
        })
        .collect();
    outputs.extend(edits(ctx, input, fps, &cut, &mut manifest.edits).await?);
    outputs.push(write_manifest(ctx, &manifest).await?);
    Ok(Clips { outputs, rows })
}

/// Silences at least this long are cut from the tightened edit.
const TIGHTEN_MIN_SILENCE: f64 = 0.75;

/// Room kept beside the speech at each cut.
const TIGHTEN_MARGIN: f64 = 0.2;

/// The edit decision lists: `clips` back to back, and the source without
/// its long silences.
async fn edits(
    ctx: &JobCtx<'_>,
    input: &Inputs<'_>,
    fps: f64,
    clips: &[edit::Event],
    report: &mut Edits,
) -> Result<Vec<Output>, StageError> {
    let duration = input.silences.duration;
    let silences: Vec<(f64, f64)> = input
        .silences
        .silences
        .iter()
        .map(|s| (s.start, s.end))
        .collect();
    let (tight, saved) = edit::tightened(duration, &silences, TIGHTEN_MIN_SILENCE, TIGHTEN_MARGIN);
    let source = input
        .source
        .path
        .file_name()
        .map_or_else(|| "source".to_owned(), |n| n.to_string_lossy().into_owned());
    let rate = edit::timecode_rate(fps);
    *report = Edits {
        files: vec!["highlights.edl", "tightened.edl", "edit.otio"],
        min_silence_seconds: TIGHTEN_MIN_SILENCE,
        margin_seconds: TIGHTEN_MARGIN,
        silences_removed: silences
            .iter()
            .filter(|(a, b)| b - a >= TIGHTEN_MIN_SILENCE)
            .count(),
        seconds_saved: round3(saved),
        timecode_fps: rate,
    };
    let otio = edit::otio(
        &source,
        fps,
        duration,
        &[("Highlights", clips), ("Without silences", &tight)],
    );
    Ok(vec![
        ctx.write_output(
            "highlights.edl",
            "text/plain",
            edit::cmx3600("Cutroom highlights", &source, rate, clips).into_bytes(),
        )
        .await?,
        ctx.write_output(
            "tightened.edl",
            "text/plain",
            edit::cmx3600("Cutroom without silences", &source, rate, &tight).into_bytes(),
        )
        .await?,
        ctx.write_output(
            "edit.otio",
            "application/json",
            serde_json::to_vec_pretty(&otio).expect("plain data"),
        )
        .await?,
    ])
}

async fn write_manifest(ctx: &JobCtx<'_>, manifest: &Manifest) -> Result<Output, StageError> {
    let bytes = serde_json::to_vec_pretty(manifest).expect("the manifest is plain data");
    ctx.write_output(MANIFEST, "application/json", bytes).await
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

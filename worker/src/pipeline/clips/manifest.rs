//! `clips.json`, the manifest written to storage beside the clips: what
//! was asked for, each clip as published, what was skipped and why, and
//! the whole-video edit decision lists written with it. Its own module
//! because a full run, a re-render and a job with no clips at all end the
//! same way: with these files. The manifest's shape is
//! [`cutroom_core::outputs::clips`]; what fills it is here and in the
//! stage's other modules.

use cutroom_core::outputs::clips::{Edits, FILE_NAME, Manifest, SkipCode, Skipped};

use super::{Clips, Inputs, edit};
use crate::pipeline::{JobCtx, Output, StageError};

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
        code: SkipCode::UnsupportedMedia,
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
        files: ["highlights.edl", "tightened.edl", "edit.otio"]
            .map(String::from)
            .to_vec(),
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
    ctx.write_output(FILE_NAME, "application/json", bytes).await
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

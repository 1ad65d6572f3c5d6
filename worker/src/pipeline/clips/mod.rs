//! The clips stage: the best highlights rendered from the scratch copy of
//! the source (no second download) into ready-to-post MP4s, one per
//! requested shape, with SRT and VTT captions, a thumbnail, and a
//! `clips.json` manifest of it all.
//!
//! Each clip is cut on its first and last words with a little room that
//! lands in the pause around them ([`plan`]), normalised to the job's
//! loudness target from the loudness stage's own measurements, and
//! optionally carries its words burned in ([`captions`]). A clip that
//! fails to render is reported in the manifest and the job goes on: the
//! transcript and the analysis are not lost to one bad stretch of video.
//!
//! A source without a picture gets audiograms ([`audiogram`]): the same
//! cuts and sound, with a picture drawn from the sound ([`look`] says
//! which a job's clips are).
//!
//! The stage runs in three steps, each in its own module: [`prepare`]
//! plans every clip's renders (cut, words, framing, shapes, preview)
//! before anything is encoded; [`assemble`] renders them all in one
//! blocking task and gathers the files and rows; [`manifest`] writes
//! `clips.json` and the edit decision lists, the same ending whether or
//! not a clip was made. A re-render's clips come from [`ranges`].
//!
//! The renderers, [`render`] (which tries [`smart`] first) and
//! [`audiogram`], share what they have in common through [`encode`],
//! [`sound`], [`gain`] and [`thumb`] rather than through each other.

mod assemble;
pub(crate) mod audiogram;
pub(crate) mod captions;
pub(crate) mod edit;
mod encode;
pub(crate) mod faces;
mod files;
mod framing;
mod gain;
mod look;
mod manifest;
pub(crate) mod plan;
mod prepare;
mod ranges;
pub(crate) mod render;
pub(crate) mod smart;
mod sound;
mod thumb;

#[cfg(test)]
mod tests;

use cutroom_core::{outputs::clips::Manifest, queries::clips as clip_queries};
use cutroom_entities::clip;

pub(crate) use self::ranges::ranges;
// Where the benchmarks have always found them.
#[cfg(any(test, feature = "bench"))]
pub(crate) use self::{
    encode::filter_path,
    framing::{canvas, reframe_filters},
};
use self::{look::Look, prepare::Planner};
use super::{
    JobCtx, Output, StageError, audio::DecodedAudio, fetch::Source, moderate::EditFlag,
    probe::MediaInfo, silence::SilenceReport, transcribe::Transcript,
};
use crate::analysis::builtin::Highlight;

/// What the stage renders from.
pub(crate) struct Inputs<'a> {
    pub source: &'a Source,
    pub media: &'a MediaInfo,
    pub audio: &'a DecodedAudio,
    pub silences: &'a SilenceReport,
    pub transcript: &'a Transcript,
    /// Best first; rank is the position plus one...
    pub highlights: &'a [Highlight],
    /// ...when they are the analysis's highlights; a re-render's are the
    /// ranges a person chose, in the order asked, and have no rank.
    pub ranked: bool,
    /// A re-render's flags on corrected text: each clip over one's span
    /// shows that text, and lists the flag in its details.
    pub edit_flags: &'a [EditFlag],
}

/// The stage's files, and the rows recorded once they are stored.
pub(crate) struct Clips {
    pub outputs: Vec<Output>,
    pub rows: Vec<clip::Model>,
}

impl Clips {
    /// Seconds of clips rendered, for usage metering.
    pub fn seconds(&self) -> f64 {
        self.rows.iter().map(|c| c.duration).sum()
    }
}

pub(crate) async fn run(ctx: &JobCtx<'_>, input: &Inputs<'_>) -> Result<Clips, StageError> {
    let options = ctx.options.clips.clone();
    let mut manifest = Manifest::new(&options);
    let chosen: Vec<(usize, &Highlight)> = input
        .highlights
        .iter()
        .enumerate()
        .take(options.count as usize)
        .collect();
    // An audio-only job's source has no picture to look for.
    let picture = if chosen.is_empty() || ctx.options.audio_only {
        None
    } else {
        let path = input.source.path.clone();
        let stream = input.media.audio_stream;
        let inspected = tokio::task::spawn_blocking(move || render::inspect(&path, stream))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        match inspected {
            Ok((Some(p), origin)) => Some((p, origin, false)),
            // No picture: the clips are audiograms, drawn from the sound.
            Ok((None, origin)) => Some((audiogram::picture(), origin, true)),
            Err(e) => {
                manifest.note = Some(format!("the source's video could not be read ({e})"));
                None
            }
        }
    };
    if ctx.options.audio_only {
        manifest.note =
            Some("the job asked for audio only (options.audio_only), so no clips were made".into());
    } else if options.count == 0 {
        manifest.note = Some("the job asked for no clips (options.clips.count is 0)".into());
    } else if input.highlights.is_empty() && manifest.note.is_none() {
        manifest.note = Some("the analysis found no highlights to make clips of".into());
    }
    let Some((picture, origin, drawn)) = picture else {
        return manifest::finish(ctx, input, 25.0, manifest, Vec::new(), Vec::new()).await;
    };
    let dir = ctx.scratch.join("clips");
    let look = if drawn {
        let look = Look::audiogram(ctx, &dir).await?;
        manifest.audiogram = Some(look.note());
        look
    } else {
        Look::Video
    };

    // What holds clips back now, judged on each clip's own range as the
    // API does.
    let flags = clip_queries::unapproved_flags(
        &ctx.db.orm,
        ctx.job.tenant_id,
        clip_queries::flags_of(ctx.job),
    )
    .await?;
    let planner = Planner::new(input, &options, (picture, origin), &look, &dir);
    let planned = planner.plan(ctx, chosen, &mut manifest).await?;
    let results = assemble::render_all(ctx, &planned, picture, drawn).await?;
    let (outputs, rows) =
        assemble::collect(ctx, input, &look, &flags, planned, results, &mut manifest).await?;
    tracing::info!(
        clips = manifest.clips.len(),
        skipped = manifest.skipped.len(),
        "clips rendered"
    );
    manifest::finish(ctx, input, f64::from(picture.fps), manifest, outputs, rows).await
}

/// Stores the clips' rows, replacing a re-run's.
pub(crate) async fn record(ctx: &JobCtx<'_>, rows: Vec<clip::Model>) -> Result<(), StageError> {
    clip_queries::replace_for_job(&ctx.db.orm, ctx.job.tenant_id, ctx.job.id, rows).await?;
    Ok(())
}

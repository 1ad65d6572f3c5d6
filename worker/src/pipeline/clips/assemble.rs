//! Assembling the planned clips: every render of every clip in one
//! blocking task, then what came of each gathered into its published
//! files, its row and its entry in the manifest. Apart from the planning
//! because nothing here decides anything about a clip; it runs what was
//! planned and reports it.

use chrono::Utc;
use cutroom_core::{
    outputs::clips::{
        ClipLoudness, ClipModeration, FileKind, Manifest, ManifestClip, ManifestFile, Tightened,
    },
    queries::clips as clip_queries,
};
use cutroom_entities::{clip, moderation_flag};
use ffmpeg_next::Error;
use serde_json::json;
use uuid::Uuid;

use super::{
    Inputs, audiogram,
    encode::{Picture, RenderSpec, Rendered},
    files::{file, output, write_file},
    gain::Fitted,
    look::Look,
    manifest::{round2, round3, skip},
    prepare::{Planned, kept_seconds},
    render,
};
use crate::pipeline::{JobCtx, Output, Stage, StageError};

/// What came of one clip's renders: its fitted gain, each shape's render,
/// and whether the preview rendered; `Err` when its sound could not be
/// read, so nothing was rendered.
pub(super) type Outcome = Result<(Fitted, Vec<Result<Rendered, Error>>, bool), String>;

/// Renders every planned clip, `drawn` (audiograms) or from the source's
/// `picture`, in one blocking task with progress across all: each clip's
/// gain is fitted first, then its shapes rendered.
pub(super) async fn render_all(
    ctx: &JobCtx<'_>,
    planned: &[Planned],
    picture: Picture,
    drawn: bool,
) -> Result<Vec<Outcome>, StageError> {
    let clips: Vec<(Vec<RenderSpec>, RenderSpec)> = planned
        .iter()
        .map(|c| {
            let specs = c.renders.iter().map(|(_, s)| s.clone()).collect();
            (specs, c.preview.clone())
        })
        .collect();
    let stop = ctx.stop.clone();
    let target = ctx.options.clips.loudness_target;
    let total = clips.iter().map(|c| c.0.len() + 1).sum::<usize>().max(1) as f32;
    let results = ctx
        .blocking(Stage::Clips, move |progress| {
            let mut results = Vec::with_capacity(clips.len());
            let mut done = 0usize;
            for (specs, preview) in clips {
                let fitted = match render::fit_loudness(&specs[0], target, &stop) {
                    Ok(None) => return None,
                    Ok(Some(f)) => f,
                    Err(e) => {
                        done += specs.len() + 1;
                        results.push(Err(format!("its audio could not be read: {e}")));
                        continue;
                    }
                };
                let mut rendered = Vec::with_capacity(specs.len());
                for mut spec in specs.into_iter().chain([preview]) {
                    spec.gain_db = fitted.gain_db;
                    let report = |part: f32| progress.set((done as f32 + part) / total);
                    let result = if drawn {
                        audiogram::render(&spec, &report, &stop)
                    } else {
                        render::render(&spec, picture, &report, &stop)
                    };
                    match result {
                        Ok(None) => return None,
                        Ok(Some(r)) => rendered.push(Ok(r)),
                        Err(e) => rendered.push(Err(e)),
                    }
                    done += 1;
                }
                // The preview's result comes last.
                let preview = rendered.pop().expect("rendered above");
                results.push(Ok((fitted, rendered, preview.is_ok())));
            }
            Some(results)
        })
        .await?;
    results.ok_or_else(|| StageError::Stopped(ctx.stop_reason()))
}

/// Gathers what came of the planned clips (`results`, in the same order)
/// into the files to publish and the clips' rows, and lists each clip, or
/// why it was skipped, in the manifest.
pub(super) async fn collect(
    ctx: &JobCtx<'_>,
    input: &Inputs<'_>,
    look: &Look,
    flags: &[moderation_flag::Model],
    planned: Vec<Planned>,
    results: Vec<Outcome>,
    manifest: &mut Manifest,
) -> Result<(Vec<Output>, Vec<clip::Model>), StageError> {
    let options = &ctx.options.clips;
    let mut outputs = Vec::new();
    let mut rows = Vec::new();
    for (c, result) in planned.into_iter().zip(results) {
        let h = &input.highlights[c.highlight];
        // Published clips are numbered 1, 2, 3... without gaps, whichever
        // planned clips failed to render.
        let index = u32::try_from(manifest.clips.len() + 1).unwrap_or(u32::MAX);
        let (fitted, rendered, has_preview) = match result {
            Ok(r) => r,
            Err(message) => {
                skip(manifest, c.made_from, c.index, message);
                continue;
            }
        };
        let files = match published(&c, index, rendered, has_preview).await? {
            Ok((files, published)) => {
                outputs.extend(published);
                files
            }
            Err(message) => {
                skip(manifest, c.made_from, c.index, message);
                continue;
            }
        };
        let loudness = ClipLoudness {
            source_lufs: c.source_lufs,
            gain_db: round2(fitted.gain_db),
            lufs: fitted.lufs.map(round2),
            true_peak_dbtp: fitted.true_peak_dbtp.map(round2),
        };
        let duration = round3(kept_seconds(&c.keep, c.cut.duration()));
        let tightened = options.tighten.enabled.then(|| Tightened {
            cuts: c
                .keep
                .windows(2)
                .map(|k| [round3(c.cut.start + k[0].1), round3(c.cut.start + k[1].0)])
                .collect(),
            seconds_saved: round3(c.cut.duration() - kept_seconds(&c.keep, c.cut.duration())),
        });
        let edits: Vec<Uuid> = input
            .edit_flags
            .iter()
            .filter(|f| f.start < c.cut.end && c.cut.start < f.end)
            .map(|f| f.id)
            .collect();
        rows.push(clip::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.job.tenant_id,
            job_id: ctx.job.id,
            idx: i32::try_from(index).unwrap_or(i32::MAX),
            highlight_rank: c.made_from.rank(),
            start: round3(c.cut.start),
            end: round3(c.cut.end),
            duration,
            title: h.title.clone(),
            hook: h.hook.clone(),
            score: i32::try_from(h.score).unwrap_or(100),
            files: json!(
                files
                    .iter()
                    .map(|f| json!({"kind": f.kind, "format": f.format, "name": f.name}))
                    .collect::<Vec<_>>()
            ),
            details: with_edit_flags(
                json!({
                    "loudness_target": options.loudness_target,
                    "loudness": loudness,
                    "reframe": options.reframe,
                    "captions_burned": options.captions.burn,
                    "tightened": tightened,
                    "framing": c.framing,
                    "range": c.made_from.range(),
                    "kind": look.kind(),
                }),
                &edits,
            ),
            created_at: Utc::now(),
        });
        manifest.clips.push(ManifestClip {
            index,
            highlight_rank: c.made_from.rank(),
            range: c.made_from.range(),
            title: h.title.clone(),
            hook: h.hook.clone(),
            score: h.score,
            kind: look.kind(),
            source_start: round3(c.cut.start),
            source_end: round3(c.cut.end),
            duration,
            moderation: if flags
                .iter()
                .any(|f| clip_queries::holds(f, c.cut.start, c.cut.end, c.made_from.rank(), &edits))
            {
                ClipModeration::Held
            } else {
                ClipModeration::Ready
            },
            loudness,
            framing: c.framing,
            tightened,
            files,
        });
    }
    Ok((outputs, rows))
}

/// One clip's files, described for the manifest and listed to publish;
/// `Err` says why the clip is not published at all.
async fn published(
    c: &Planned,
    index: u32,
    rendered: Vec<Result<Rendered, Error>>,
    has_preview: bool,
) -> Result<Result<(Vec<ManifestFile>, Vec<Output>), String>, StageError> {
    let mut outputs = Vec::new();
    let mut files = Vec::new();
    let mut thumbnail = None;
    let mut failure = None;
    for ((format, spec), result) in c.renders.iter().zip(rendered) {
        match result {
            Ok(rendered) => {
                tracing::debug!(index, format = format.name(), ?rendered, "clip rendered");
                let name = format!("clips/{:02}/{}.mp4", index, format.name());
                let mut video = file(
                    &name,
                    FileKind::Video,
                    Some((*format, spec)),
                    "video/mp4",
                    &spec.output,
                )
                .await?;
                video.frames_copied =
                    (rendered.copied_frames > 0).then_some(rendered.copied_frames);
                files.push(video);
                if let (Some(path), Some(_)) = (&spec.thumbnail, rendered.thumbnail_at) {
                    thumbnail = Some(path.clone());
                }
            }
            Err(e) => {
                failure.get_or_insert(format!("the {} render failed: {e}", format.name()));
            }
        }
    }
    // A clip is all or nothing: none of its files are published.
    if let Some(message) = failure {
        return Ok(Err(message));
    }
    for (format, spec) in &c.renders {
        let name = format!("clips/{:02}/{}.mp4", index, format.name());
        outputs.push(output(name, "video/mp4", spec.output.clone()));
    }
    for (kind, ext, content_type, text) in [
        (FileKind::Srt, "srt", "application/x-subrip", &c.srt),
        (FileKind::Vtt, "vtt", "text/vtt", &c.vtt),
    ] {
        let path = c.dir.join(format!("captions.{ext}"));
        write_file(&c.dir, &path, text.clone().into_bytes()).await?;
        let name = format!("clips/{:02}/captions.{ext}", index);
        files.push(file(&name, kind, None, content_type, &path).await?);
        outputs.push(output(name, content_type, path));
    }
    if let Some(path) = thumbnail {
        let name = format!("clips/{:02}/thumbnail.jpg", index);
        files.push(file(&name, FileKind::Thumbnail, None, "image/jpeg", &path).await?);
        outputs.push(output(name, "image/jpeg", path));
    }
    // A preview that failed only leaves the web app without one.
    if has_preview {
        let name = format!("clips/{:02}/preview.mp4", index);
        let path = c.preview.output.clone();
        files.push(file(&name, FileKind::Preview, None, "video/mp4", &path).await?);
        outputs.push(output(name, "video/mp4", path));
    }
    Ok(Ok((files, outputs)))
}

/// A clip's `details`, with the flags on corrected text it shows, if any
/// (what holds it: [`clip_queries::holds`]).
fn with_edit_flags(mut details: serde_json::Value, edits: &[Uuid]) -> serde_json::Value {
    if !edits.is_empty() {
        details[clip_queries::EDIT_FLAGS] = json!(edits);
    }
    details
}

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

pub(crate) mod audiogram;
pub(crate) mod captions;
pub(crate) mod edit;
mod encode;
pub(crate) mod faces;
mod gain;
mod look;
pub(crate) mod plan;
pub(crate) mod render;
pub(crate) mod smart;
mod sound;
mod thumb;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use chrono::Utc;
use cutroom_core::{
    ErrorCode,
    clips::{ClipFormat, ClipRange, Reframe},
    queries::clips as clip_queries,
};
use cutroom_entities::clip;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use self::{
    captions::{BurnStyle, ClipWord},
    faces::{FaceDetector, Shot},
    look::Look,
    plan::{Cut, Span},
    render::{Picture, RenderSpec},
};
use super::{
    JobCtx, Output, Stage, StageError,
    audio::DecodedAudio,
    fetch::Source,
    loudness::{LoudnessReport, Series},
    moderate::EditFlag,
    probe::MediaInfo,
    silence::{SilenceKind, SilenceReport},
    transcribe::Transcript,
};
use crate::analysis::builtin::Highlight;

pub(crate) const MANIFEST: &str = "clips.json";
/// Bumped when the manifest's shape changes incompatibly.
const FORMAT_VERSION: u32 = 1;
/// Width of the animated preview, at most.
const PREVIEW_WIDTH: u32 = 240;
/// Seconds of the clip the preview shows, from its start.
const PREVIEW_SECONDS: f64 = 3.0;
/// Longest side of an `original` clip.
const MAX_ORIGINAL_SIDE: u32 = 1920;
/// Width of a `vertical` clip and side of a `square` one, at most.
const MAX_SHORT_SIDE: u32 = 1080;

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
enum Origin {
    /// The analysis's highlight of this rank (1 is the best).
    Highlight(i32),
    /// A re-render's range at this position in `ranges`.
    Range(usize),
}

impl Origin {
    fn new(k: usize, ranked: bool) -> Self {
        if ranked {
            Origin::Highlight(i32::try_from(k + 1).unwrap_or(i32::MAX))
        } else {
            Origin::Range(k)
        }
    }

    fn rank(self) -> Option<i32> {
        match self {
            Origin::Highlight(rank) => Some(rank),
            Origin::Range(_) => None,
        }
    }

    fn range(self) -> Option<usize> {
        match self {
            Origin::Highlight(_) => None,
            Origin::Range(k) => Some(k),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Origin::Highlight(_) => "highlight",
            Origin::Range(_) => "range",
        }
    }
}

/// One clip's renders, planned before any encoding starts.
struct Planned {
    index: u32,
    /// Where it came from: a highlight's rank, or the range's position.
    made_from: Origin,
    highlight: usize,
    cut: Cut,
    /// Stretches of the cut kept by tightening (clip clock); empty: all.
    keep: Vec<(f64, f64)>,
    framing: Option<Framing>,
    source_lufs: Option<f64>,
    dir: PathBuf,
    /// (format, spec) per requested shape; the first also picks the
    /// thumbnail.
    renders: Vec<(ClipFormat, RenderSpec)>,
    preview: RenderSpec,
    srt: String,
    vtt: String,
}

pub(crate) async fn run(ctx: &JobCtx<'_>, input: &Inputs<'_>) -> Result<Clips, StageError> {
    let options = ctx.options.clips.clone();
    let mut manifest = Manifest {
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
    };
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
        let mut outputs = edits(ctx, input, 25.0, &[], &mut manifest.edits).await?;
        outputs.push(write_manifest(ctx, &manifest).await?);
        return Ok(Clips {
            outputs,
            rows: Vec::new(),
        });
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
    let (spans, texts, speakers) = word_timeline(input.transcript);
    let mut planned = Vec::new();
    let mut detector = match look {
        Look::Video => face_detector(ctx, &options, &mut manifest),
        Look::Audiogram { .. } => None,
    };
    for (k, h) in chosen {
        let made_from = Origin::new(k, input.ranked);
        let Some(cut) = plan::cut(
            &spans,
            &input.audio.mono16k,
            input.audio.duration(),
            h.start,
            h.end,
        ) else {
            manifest.skipped.push(Skipped {
                highlight_rank: made_from.rank(),
                range: made_from.range(),
                code: "no_words",
                message: format!("no transcribed word lies inside the {}", made_from.noun()),
            });
            continue;
        };
        let index = u32::try_from(planned.len() + 1).unwrap_or(u32::MAX);
        let clip_dir = dir.join(format!("{index:02}"));
        // Made here, not only when a caption script is written into it: a
        // clip without burned captions renders straight into it.
        make_dir(&clip_dir).await?;
        let words = clip_words(&spans, &texts, &cut);
        let keep = if options.tighten.enabled {
            let pauses: Vec<(f64, f64)> = input
                .silences
                .silences
                .iter()
                .filter(|s| s.kind == SilenceKind::Quiet && s.end > cut.start && s.start < cut.end)
                .map(|s| (s.start - cut.start, s.end - cut.start))
                .collect();
            let said: Vec<(f64, f64)> = words.iter().map(|w| (w.start, w.end)).collect();
            edit::jump_cuts(
                cut.duration(),
                &pauses,
                &said,
                (options.tighten.min_silence, options.tighten.margin),
                f64::from(picture.fps),
            )
        } else {
            Vec::new()
        };
        // The words where they are heard in the clip as rendered.
        let words: Vec<ClipWord> = words
            .into_iter()
            .map(|w| ClipWord {
                start: edit::retime(w.start, &keep),
                end: edit::retime(w.end, &keep),
                text: w.text,
            })
            .collect();
        let duration = kept_seconds(&keep, cut.duration());
        let cues = captions::cues(&words, duration);
        let (framing, shots) = match detector.take() {
            None => (None, None),
            Some(d) => {
                let turns: Vec<f64> = (cut.first_word + 1..=cut.last_word)
                    .filter(|&k| {
                        matches!((&speakers[k - 1], &speakers[k]), (Some(a), Some(b)) if a != b)
                    })
                    .map(|k| edit::retime((spans[k - 1].end + spans[k].start) / 2.0 - cut.start, &keep))
                    .collect();
                let range = (origin + cut.start, origin + cut.end);
                let (d, framed) =
                    frame_speaker(ctx, input, d, range, &keep, &turns, duration).await?;
                detector = Some(d);
                let shots = (!framed.shots.is_empty()).then(|| {
                    framed
                        .shots
                        .iter()
                        .map(|s| Shot {
                            start: s.start,
                            centre: (s.x, s.y),
                        })
                        .collect::<Vec<_>>()
                });
                (Some(framed), shots)
            }
        };
        let measured = range_loudness(&input.audio.loudness, cut.start, cut.end);
        // Where the fitting starts; see `render::fit_loudness`.
        let gain_db = measured.map_or(0.0, |m| options.loudness_target - m);
        let mut renders = Vec::new();
        for (n, &format) in options.formats.iter().enumerate() {
            let (width, height) = canvas(format, picture);
            let title = look.title(width, height);
            let ass = (options.captions.burn || title.is_some()).then(|| {
                let path = clip_dir.join(format!("{}.ass", format.name()));
                let burned: &[ClipWord] = if options.captions.burn { &words } else { &[] };
                let script = captions::ass(
                    burned,
                    duration,
                    BurnStyle {
                        width,
                        height,
                        words_per_caption: options.captions.words_per_caption as usize,
                        title,
                    },
                );
                (path, script)
            });
            let filters = look.filters(
                ass.as_ref().map(|(path, _)| path.as_path()),
                (width, height),
                || {
                    framed_filters(
                        format,
                        options.reframe,
                        picture,
                        shots.as_deref(),
                        (width, height),
                    )
                },
            );
            renders.push((
                format,
                RenderSpec {
                    source: input.source.path.clone(),
                    audio_stream: input.media.audio_stream,
                    origin,
                    start: cut.start,
                    end: cut.end,
                    video_filters: filters,
                    width,
                    height,
                    gain_db,
                    output: clip_dir.join(format!("{}.mp4", format.name())),
                    thumbnail: (n == 0).then(|| clip_dir.join("thumbnail.jpg")),
                    audio: true,
                    crf: render::CLIP_CRF,
                    keep: keep.clone(),
                    smart: look.is_video()
                        && format == ClipFormat::Original
                        && (width, height) == (picture.width, picture.height)
                        && !options.captions.burn
                        && keep.is_empty(),
                },
            ));
            if let Some((path, script)) = ass {
                write_file(&clip_dir, &path, script.into_bytes()).await?;
            }
        }
        // The preview: the first shape, small, muted, its first seconds.
        let (format, first) = &renders[0];
        let scale = (f64::from(PREVIEW_WIDTH) / f64::from(first.width)).min(1.0);
        let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
        let (pw, ph) = (
            even(f64::from(first.width) * scale),
            even(f64::from(first.height) * scale),
        );
        let mut preview_keep = first_seconds(&keep, PREVIEW_SECONDS);
        let preview_end = preview_keep
            .last()
            .map_or(cut.duration().min(PREVIEW_SECONDS), |k| k.1);
        if preview_keep.len() < 2 {
            preview_keep.clear();
        }
        let preview = RenderSpec {
            end: cut.start + preview_end,
            keep: preview_keep,
            video_filters: look.filters(None, (pw, ph), || {
                framed_filters(
                    *format,
                    options.reframe,
                    picture,
                    shots.as_deref(),
                    (pw, ph),
                )
            }),
            width: pw,
            height: ph,
            output: clip_dir.join("preview.mp4"),
            thumbnail: None,
            audio: false,
            crf: render::PREVIEW_CRF,
            smart: false,
            ..first.clone()
        };
        planned.push(Planned {
            index,
            preview,
            made_from,
            highlight: k,
            cut,
            keep,
            framing,
            source_lufs: measured.map(round2),
            dir: clip_dir,
            renders,
            srt: captions::srt(&cues),
            vtt: captions::vtt(&cues),
        });
    }

    // Every render of every clip in one blocking task, progress across
    // all: each clip's gain is fitted first, then its shapes rendered.
    let clips: Vec<(Vec<RenderSpec>, RenderSpec)> = planned
        .iter()
        .map(|c| {
            let specs = c.renders.iter().map(|(_, s)| s.clone()).collect();
            (specs, c.preview.clone())
        })
        .collect();
    let stop = ctx.stop.clone();
    let target = options.loudness_target;
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
    let Some(results) = results else {
        return Err(StageError::Stopped(ctx.stop_reason()));
    };

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
                skip(&mut manifest, c.made_from, c.index, message);
                continue;
            }
        };
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
                        "video",
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
            skip(&mut manifest, c.made_from, c.index, message);
            continue;
        }
        for (format, spec) in &c.renders {
            let name = format!("clips/{:02}/{}.mp4", index, format.name());
            outputs.push(output(name, "video/mp4", spec.output.clone()));
        }
        let loudness = ClipLoudness {
            source_lufs: c.source_lufs,
            gain_db: round2(fitted.gain_db),
            lufs: fitted.lufs.map(round2),
            true_peak_dbtp: fitted.true_peak_dbtp.map(round2),
        };
        for (kind, ext, content_type, text) in [
            ("srt", "srt", "application/x-subrip", &c.srt),
            ("vtt", "vtt", "text/vtt", &c.vtt),
        ] {
            let path = c.dir.join(format!("captions.{ext}"));
            write_file(&c.dir, &path, text.clone().into_bytes()).await?;
            let name = format!("clips/{:02}/captions.{ext}", index);
            files.push(file(&name, kind, None, content_type, &path).await?);
            outputs.push(output(name, content_type, path));
        }
        if let Some(path) = thumbnail {
            let name = format!("clips/{:02}/thumbnail.jpg", index);
            files.push(file(&name, "thumbnail", None, "image/jpeg", &path).await?);
            outputs.push(output(name, "image/jpeg", path));
        }
        // A preview that failed only leaves the web app without one.
        if has_preview {
            let name = format!("clips/{:02}/preview.mp4", index);
            let path = c.preview.output.clone();
            files.push(file(&name, "preview", None, "video/mp4", &path).await?);
            outputs.push(output(name, "video/mp4", path));
        }
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
                "held"
            } else {
                "ready"
            },
            loudness,
            framing: c.framing,
            tightened,
            files,
        });
    }
    tracing::info!(
        clips = manifest.clips.len(),
        skipped = manifest.skipped.len(),
        "clips rendered"
    );
    let cut: Vec<edit::Event> = manifest
        .clips
        .iter()
        .map(|c| edit::Event {
            start: c.source_start,
            end: c.source_end,
            name: format!("{}. {}", c.index, c.title),
        })
        .collect();
    let fps = f64::from(picture.fps);
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

/// Records a clip that was chosen but not rendered.
fn skip(manifest: &mut Manifest, made_from: Origin, index: u32, message: String) {
    tracing::warn!(index, %message, "clip not rendered");
    manifest.skipped.push(Skipped {
        highlight_rank: made_from.rank(),
        range: made_from.range(),
        code: ErrorCode::UnsupportedMedia.as_str(),
        message,
    });
}

/// The clips a re-render asked for, as highlights in the order asked: each
/// titled as given, or by its first words, and hooked on its first
/// sentence. A person chose them, so they have no score (0) and no reasons.
pub(crate) fn ranges(
    job: &cutroom_entities::job::Model,
    transcript: &Transcript,
) -> Result<Vec<Highlight>, StageError> {
    let ranges: Vec<ClipRange> = job
        .clip_ranges
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the re-render's ranges could not be read",
            )
            .detail(e)
        })?
        .unwrap_or_default();
    let (spans, texts, _) = word_timeline(transcript);
    Ok(ranges
        .into_iter()
        .map(|r| {
            let words = spans
                .iter()
                .zip(&texts)
                .filter(|(w, _)| w.start >= r.start && w.end <= r.end)
                .map(|(_, t)| t.as_str());
            let hook = first_sentence(words, HOOK_WORDS);
            Highlight {
                start: r.start,
                end: r.end,
                title: r
                    .title
                    .unwrap_or_else(|| first_sentence(hook.split(' '), TITLE_WORDS)),
                hook,
                score: 0,
                reasons: Vec::new(),
            }
        })
        .collect())
}

/// Most words of a chosen range's hook line...
const HOOK_WORDS: usize = 20;
/// ...and of the title made from it.
const TITLE_WORDS: usize = 8;

/// `words` up to the end of the first sentence, at most `most` of them
/// (with an ellipsis when cut short).
fn first_sentence<'w>(words: impl Iterator<Item = &'w str>, most: usize) -> String {
    let mut out = Vec::new();
    for word in words {
        if out.len() == most {
            return format!("{}…", out.join(" "));
        }
        out.push(word);
        if word.ends_with(['.', '!', '?']) {
            break;
        }
    }
    out.join(" ")
}

/// Stores the clips' rows, replacing a re-run's.
pub(crate) async fn record(ctx: &JobCtx<'_>, rows: Vec<clip::Model>) -> Result<(), StageError> {
    clip_queries::replace_for_job(&ctx.db.orm, ctx.job.tenant_id, ctx.job.id, rows).await?;
    Ok(())
}

/// Every word of the transcript, in time order: when, what, and who said
/// it (once the speakers stage has labelled it).
fn word_timeline(t: &Transcript) -> (Vec<Span>, Vec<String>, Vec<Option<String>>) {
    let mut words: Vec<(Span, String, Option<String>)> = t
        .segments
        .iter()
        .flat_map(|s| s.words.iter().map(move |w| (s, w)))
        .map(|(s, w)| {
            (
                Span {
                    start: w.start,
                    end: w.end.max(w.start),
                },
                w.text.trim().to_owned(),
                w.speaker.clone().or_else(|| s.speaker.clone()),
            )
        })
        .filter(|(_, text, _)| !text.is_empty())
        .collect();
    words.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (span, text, speaker) in words {
        out.0.push(span);
        out.1.push(text);
        out.2.push(speaker);
    }
    out
}

/// The face detector for `speaker` framing, when the job asks for it and
/// the model folder has it; otherwise the manifest says why not.
fn face_detector(
    ctx: &JobCtx<'_>,
    options: &cutroom_core::clips::ClipOptions,
    manifest: &mut Manifest,
) -> Option<FaceDetector> {
    if options.reframe != Reframe::Speaker
        || options.formats.iter().all(|f| *f == ClipFormat::Original)
    {
        return None;
    }
    let set = &ctx.engines.set;
    let Some(file) = set.face_detector() else {
        manifest.framing_note = Some(
            "the model folder has no face detector (`cutroom models install` makes it), \
             so speaker framing fell back to a centred crop"
                .into(),
        );
        return None;
    };
    match FaceDetector::open(&set.onnxruntime().path, &file.path, ctx.engines.threads) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "face detector not loaded");
            manifest.framing_note = Some(format!(
                "the face detector could not be loaded ({e}), so speaker framing fell back to a centred crop"
            ));
            None
        }
    }
}

/// Samples the faces of one cut (`range` on the file's clock) and plans
/// its shots on the clip's clock as rendered (after `keep`). The detector
/// is handed back for the next clip.
async fn frame_speaker(
    ctx: &JobCtx<'_>,
    input: &Inputs<'_>,
    mut detector: FaceDetector,
    range: (f64, f64),
    keep: &[(f64, f64)],
    turns: &[f64],
    duration: f64,
) -> Result<(FaceDetector, Framing), StageError> {
    let source = input.source.path.clone();
    let stop = ctx.stop.clone();
    let (detector_back, sampled) = tokio::task::spawn_blocking(move || {
        let sampled = faces::sample(&source, range, &mut detector, &stop);
        (detector, sampled)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let samples = match sampled {
        Ok(Some(s)) => s,
        Ok(None) => return Err(StageError::Stopped(ctx.stop_reason())),
        Err(e) => {
            tracing::warn!(error = %e, "faces not sampled");
            return Ok((
                detector_back,
                Framing {
                    note: Some(format!(
                        "the frames could not be searched for faces ({e}); centred crop"
                    )),
                    ..Framing::default()
                },
            ));
        }
    };
    let samples: Vec<_> = samples
        .into_iter()
        .map(|(t, faces)| (edit::retime(t, keep), faces))
        .collect();
    let mut framing = Framing {
        frames_sampled: samples.len(),
        frames_with_faces: samples.iter().filter(|(_, f)| !f.is_empty()).count(),
        ..Framing::default()
    };
    match faces::shots(&samples, turns, duration) {
        Some(shots) => {
            framing.shots = shots
                .iter()
                .map(|s| FramingShot {
                    start: round3(s.start),
                    x: round3(s.centre.0),
                    y: round3(s.centre.1),
                })
                .collect();
        }
        None => framing.note = Some("no face was found in the clip; centred crop".into()),
    }
    Ok((detector_back, framing))
}

/// The reframing filters of one render: around the planned shots when
/// speaker framing found faces, else as `reframe` says (`speaker` without
/// shots is a centred crop).
fn framed_filters(
    format: ClipFormat,
    reframe: Reframe,
    picture: Picture,
    shots: Option<&[Shot]>,
    (width, height): (u32, u32),
) -> String {
    let same_shape = u64::from(picture.width) * u64::from(height)
        == u64::from(picture.height) * u64::from(width);
    match shots {
        Some(shots) if format != ClipFormat::Original && !same_shape => {
            faces::crop_filters(shots, (picture.width, picture.height), width, height)
        }
        _ => reframe_filters(format, reframe, picture, width, height),
    }
}

/// The cut's words, on the clip's own clock.
fn clip_words(spans: &[Span], texts: &[String], cut: &Cut) -> Vec<ClipWord> {
    (cut.first_word..=cut.last_word)
        .map(|k| ClipWord {
            start: (spans[k].start - cut.start).max(0.0),
            end: (spans[k].end - cut.start).min(cut.duration()),
            text: texts[k].clone(),
        })
        .collect()
}

/// Seconds of a cut of `length` once only `keep` is left of it.
fn kept_seconds(keep: &[(f64, f64)], length: f64) -> f64 {
    if keep.is_empty() {
        length
    } else {
        keep.iter().map(|(a, b)| b - a).sum()
    }
}

/// The stretches of `keep` (all of a clip when empty) that make its first
/// `seconds` as rendered.
fn first_seconds(keep: &[(f64, f64)], seconds: f64) -> Vec<(f64, f64)> {
    if keep.is_empty() {
        return Vec::new();
    }
    let mut left = seconds;
    let mut out = Vec::new();
    for &(a, b) in keep {
        if left <= 0.0 {
            break;
        }
        out.push((a, b.min(a + left)));
        left -= b - a;
    }
    out
}

/// Integrated loudness (BS.1770: absolute gate -70 LUFS, relative -10 LU)
/// of `start..end` from the momentary series, whose 400 ms windows every
/// 100 ms are exactly the standard's gating blocks. `None` for silence or a
/// range shorter than one block.
fn range_loudness(report: &LoudnessReport, start: f64, end: f64) -> Option<f64> {
    let Series {
        interval,
        window,
        values,
    } = &report.momentary;
    let energies: Vec<f64> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let block_end = (i + 1) as f64 * interval;
            let block_start = block_end - window;
            (block_start >= start - 1e-6 && block_end <= end + 1e-6)
                .then_some(*v)
                .flatten()
        })
        .filter(|l| *l >= -70.0)
        .map(|l| 10f64.powf((l + 0.691) / 10.0))
        .collect();
    if energies.is_empty() {
        return None;
    }
    let loudness = |e: f64| -0.691 + 10.0 * e.log10();
    let mean = energies.iter().sum::<f64>() / energies.len() as f64;
    let gate = loudness(mean) - 10.0;
    let kept: Vec<f64> = energies
        .into_iter()
        .filter(|e| loudness(*e) >= gate)
        .collect();
    Some(loudness(kept.iter().sum::<f64>() / kept.len() as f64))
}

/// The output picture of `format` for a `picture` source: even sides, no
/// bigger than the platforms want and no bigger than the source can fill.
pub(crate) fn canvas(format: ClipFormat, picture: Picture) -> (u32, u32) {
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let (w, h) = (f64::from(picture.width), f64::from(picture.height));
    let short = w.min(h).min(f64::from(MAX_SHORT_SIDE));
    match format {
        ClipFormat::Original => {
            let scale = (f64::from(MAX_ORIGINAL_SIDE) / w.max(h)).min(1.0);
            (even(w * scale), even(h * scale))
        }
        ClipFormat::Vertical => (even(short), even(short * 16.0 / 9.0)),
        ClipFormat::Square => (even(short), even(short)),
    }
}

/// Video filters that turn the source's picture into `width` x `height`.
pub(crate) fn reframe_filters(
    format: ClipFormat,
    reframe: Reframe,
    picture: Picture,
    width: u32,
    height: u32,
) -> String {
    let same_shape = u64::from(picture.width) * u64::from(height)
        == u64::from(picture.height) * u64::from(width);
    if format == ClipFormat::Original || same_shape {
        return format!("scale={width}:{height},setsar=1");
    }
    match reframe {
        Reframe::Crop | Reframe::Speaker => format!(
            "scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1"
        ),
        Reframe::Blur => {
            // The background is blurred small and scaled up: the same look
            // as blurring it full size, at a fraction of the work.
            let (bw, bh) = ((width / 8).max(8) & !1, (height / 8).max(8) & !1);
            let radius = (bw.min(bh) / 8).clamp(1, 10);
            format!(
                "split=2[bg][fg];\
                 [bg]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},\
                 boxblur={radius}:2,scale={width}:{height}[blurred];\
                 [fg]scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2[fitted];\
                 [blurred][fitted]overlay=(W-w)/2:(H-h)/2,setsar=1"
            )
        }
    }
}

/// A path as the value of a filter option inside a filter graph: escaped
/// once for the option parser and once for the graph parser.
pub(crate) fn filter_path(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let mut option = String::new();
    for c in text.chars() {
        if matches!(c, '\\' | '\'' | ':') {
            option.push('\\');
        }
        option.push(c);
    }
    let mut graph = String::new();
    for c in option.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            graph.push('\\');
        }
        graph.push(c);
    }
    graph
}

async fn write_file(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: Vec<u8>,
) -> Result<(), StageError> {
    make_dir(dir).await?;
    tokio::fs::write(path, bytes).await.map_err(write_failed)
}

/// Makes a clip's folder, where its renders are written.
async fn make_dir(dir: &std::path::Path) -> Result<(), StageError> {
    tokio::fs::create_dir_all(dir).await.map_err(write_failed)
}

fn write_failed(e: std::io::Error) -> StageError {
    StageError::failed(
        ErrorCode::InternalError,
        "the worker could not write its results; try again later",
    )
    .detail(e)
}

async fn file(
    name: &str,
    kind: &'static str,
    video: Option<(ClipFormat, &RenderSpec)>,
    content_type: &'static str,
    path: &std::path::Path,
) -> Result<ManifestFile, StageError> {
    let (size_bytes, sha256) = super::publish::digest_file(path).await.map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the worker could not read its results; try again later",
        )
        .detail(e)
    })?;
    Ok(ManifestFile {
        name: name.to_owned(),
        kind,
        format: video.map(|(f, _)| f),
        width: video.map(|(_, s)| s.width),
        height: video.map(|(_, s)| s.height),
        content_type,
        size_bytes,
        sha256,
        frames_copied: None,
    })
}

fn output(name: String, content_type: &'static str, path: PathBuf) -> Output {
    Output {
        name,
        path,
        content_type,
        models: Vec::new(),
    }
}

async fn write_manifest(ctx: &JobCtx<'_>, manifest: &Manifest) -> Result<Output, StageError> {
    let bytes = serde_json::to_vec_pretty(manifest).expect("the manifest is plain data");
    ctx.write_output(MANIFEST, "application/json", bytes).await
}

/// A clip's `details`, with the flags on corrected text it shows, if any
/// (what holds it: [`clip_queries::holds`]).
fn with_edit_flags(mut details: serde_json::Value, edits: &[Uuid]) -> serde_json::Value {
    if !edits.is_empty() {
        details[clip_queries::EDIT_FLAGS] = json!(edits);
    }
    details
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

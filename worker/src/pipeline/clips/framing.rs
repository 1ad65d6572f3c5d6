//! The picture of each shape: its size for the source's picture, and the
//! filters that fill it, centred, blurred behind, or following the
//! speaker's face (`speaker` framing, with its detector). Apart from the
//! planning because the benchmarks and the audiograms size and frame
//! their pictures the same way.

use cutroom_core::{
    clips::{ClipFormat, Reframe},
    outputs::clips::{Framing, FramingShot, Manifest},
};

use super::{
    Inputs, edit,
    encode::Picture,
    faces::{self, FaceDetector, Shot},
    manifest::round3,
};
use crate::pipeline::{JobCtx, StageError};

/// Longest side of an `original` clip.
const MAX_ORIGINAL_SIDE: u32 = 1920;

/// Width of a `vertical` clip and side of a `square` one, at most.
const MAX_SHORT_SIDE: u32 = 1080;

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

/// The reframing filters of one render: around the planned shots when
/// speaker framing found faces, else as `reframe` says (`speaker` without
/// shots is a centred crop).
pub(super) fn framed_filters(
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

/// The face detector for `speaker` framing, when the job asks for it and
/// the model folder has it; otherwise the manifest says why not.
pub(super) fn face_detector(
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
pub(super) async fn frame_speaker(
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

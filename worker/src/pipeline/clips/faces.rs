//! Speaker-following framing for vertical and square clips.
//!
//! Faces are found on frames sampled through the clip by CenterFace (an
//! ONNX face detector the model folder holds when `models install` made
//! it). The clip is split into shots at speaker changes (from the
//! transcript's speaker labels), no shot shorter than [`MIN_SHOT`]; each
//! shot is framed once, on the middle of where the most prominent face was
//! over its samples, so the picture never drifts or jitters within a shot
//! and moves only as an editor would cut, when someone else speaks. A new
//! shot whose face is within [`STAY`] of the last framing keeps it.
//!
//! With no face detector, or no face found, the framing is the centred
//! crop, and the manifest says so.
//!
//! The decoding of CenterFace's output and the shot planning are written
//! by hand: they are a few dozen lines over the model's four output maps,
//! and no maintained crate wraps this model.

use std::path::Path;

use ffmpeg_next::{
    Error, Packet, format, frame, media, software::scaling, software::scaling::Flags,
};
use ndarray::Array4;
use ort::{session::Session, value::TensorRef};
use tokio_util::sync::CancellationToken;

use super::encode;
use crate::media as ff;

/// Width of the picture the detector looks at: faces a tenth of the frame
/// wide or more are found reliably, in about 80 ms a frame on one core.
const DETECT_WIDTH: u32 = 320;
/// Seconds between sampled frames.
pub(crate) const SAMPLE_EVERY: f64 = 0.5;
/// A face is a heatmap peak at least this confident.
const MIN_SCORE: f32 = 0.5;
/// Boxes overlapping more than this (intersection over union) are one face.
const NMS_IOU: f32 = 0.3;
/// Shortest shot, seconds: a speaker change sooner than this after the
/// last cut (or before the clip's end) does not move the framing.
pub(crate) const MIN_SHOT: f64 = 2.0;
/// A shot's face this close to the last framing (fraction of the picture)
/// keeps the last framing.
const STAY: f64 = 0.05;

/// Faces per sampled frame: `(seconds into the clip, faces)`.
pub(crate) type Samples = Vec<(f64, Vec<Face>)>;

/// One face: its box as fractions of the picture (0-1), and confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Face {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
    pub score: f32,
}

impl Face {
    pub fn centre(&self) -> (f64, f64) {
        (
            f64::from(self.x0 + self.x1) / 2.0,
            f64::from(self.y0 + self.y1) / 2.0,
        )
    }

    fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    fn iou(&self, other: &Face) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// CenterFace through ONNX Runtime.
pub(crate) struct FaceDetector {
    session: Session,
}

impl FaceDetector {
    pub fn open(runtime: &Path, model: &Path, threads: usize) -> anyhow::Result<Self> {
        Ok(Self {
            session: crate::onnx::session(runtime, model, threads)?,
        })
    }

    /// The faces in an RGB picture, `width` x `height` (each a multiple of
    /// 32), rows `stride` bytes apart; best first.
    pub fn detect(
        &mut self,
        rgb: &[u8],
        width: usize,
        height: usize,
        stride: usize,
    ) -> anyhow::Result<Vec<Face>> {
        anyhow::ensure!(
            width.is_multiple_of(32) && height.is_multiple_of(32) && width > 0 && height > 0,
            "the detector takes sides that are multiples of 32, not {width}x{height}"
        );
        let mut input = Array4::<f32>::zeros((1, 3, height, width));
        for y in 0..height {
            let row = &rgb[y * stride..y * stride + width * 3];
            for x in 0..width {
                for c in 0..3 {
                    input[[0, c, y, x]] = f32::from(row[x * 3 + c]);
                }
            }
        }
        let outputs = self
            .session
            .run(ort::inputs!["input.1" => TensorRef::from_array_view(&input)?])?;
        let (_, heatmap) = outputs["537"].try_extract_tensor::<f32>()?;
        let (_, scale) = outputs["538"].try_extract_tensor::<f32>()?;
        let (_, offset) = outputs["539"].try_extract_tensor::<f32>()?;
        Ok(decode(
            heatmap,
            scale,
            offset,
            (width / 4, height / 4),
            (width as f32, height as f32),
        ))
    }
}

/// Boxes from CenterFace's maps (`cells` = width, height of each map):
/// each confident heatmap cell is a face centre, its size the exponent of
/// the scale map times 4, nudged by the offset map; overlapping boxes
/// are merged by non-maximum suppression. Coordinates are returned as
/// fractions of `size`.
fn decode(
    heatmap: &[f32],
    scale: &[f32],
    offset: &[f32],
    (cw, ch): (usize, usize),
    (w, h): (f32, f32),
) -> Vec<Face> {
    let plane = cw * ch;
    let mut faces: Vec<Face> = Vec::new();
    for r in 0..ch {
        for c in 0..cw {
            let k = r * cw + c;
            let score = heatmap[k];
            if score <= MIN_SCORE {
                continue;
            }
            let (bh, bw) = (scale[k].exp() * 4.0, scale[plane + k].exp() * 4.0);
            let (oy, ox) = (offset[k], offset[plane + k]);
            let x0 = ((c as f32 + ox + 0.5) * 4.0 - bw / 2.0).clamp(0.0, w);
            let y0 = ((r as f32 + oy + 0.5) * 4.0 - bh / 2.0).clamp(0.0, h);
            faces.push(Face {
                x0: x0 / w,
                y0: y0 / h,
                x1: (x0 + bw).min(w) / w,
                y1: (y0 + bh).min(h) / h,
                score,
            });
        }
    }
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| k.iou(&f) <= NMS_IOU) {
            kept.push(f);
        }
    }
    kept
}

/// The faces on frames of `source` sampled every [`SAMPLE_EVERY`] seconds
/// from `from` to `to` (seconds on the file's clock), as `(seconds after
/// from, faces)`. `Ok(None)` when `stop` fired.
pub(crate) fn sample(
    source: &Path,
    (from, to): (f64, f64),
    detector: &mut FaceDetector,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Samples>> {
    let mut input = ff::open(source)?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or(Error::StreamNotFound)?;
    let index = stream.index();
    let tb = f64::from(stream.time_base());
    let mut decoder = ff::video_decoder(stream.parameters())?;
    encode::seek_before(&mut input, from)?;
    let (dw, dh) = {
        let (w, h) = (f64::from(decoder.width()), f64::from(decoder.height()));
        let dh = (f64::from(DETECT_WIDTH) * h / w / 32.0).round().max(1.0) as u32 * 32;
        (DETECT_WIDTH, dh)
    };
    let mut scaler: Option<scaling::Context> = None;
    let mut samples = Vec::new();
    let mut next = 0.0;
    let mut frame = frame::Video::empty();
    let mut rgb = frame::Video::empty();
    let mut packet = Packet::empty();
    let mut take = |decoder: &mut ffmpeg_next::decoder::Video,
                    samples: &mut Vec<(f64, Vec<Face>)>,
                    next: &mut f64|
     -> anyhow::Result<bool> {
        while decoder.receive_frame(&mut frame).is_ok() {
            let at = frame.timestamp().map_or(0.0, |t| t as f64 * tb) - from;
            if at > to - from {
                return Ok(true);
            }
            if at + 1e-6 < *next {
                continue;
            }
            let sc = match scaler.as_mut() {
                Some(s) => s,
                None => scaler.insert(scaling::Context::get(
                    frame.format(),
                    frame.width(),
                    frame.height(),
                    format::Pixel::RGB24,
                    dw,
                    dh,
                    Flags::BILINEAR,
                )?),
            };
            sc.run(&frame, &mut rgb)?;
            let faces = detector.detect(rgb.data(0), dw as usize, dh as usize, rgb.stride(0))?;
            samples.push((at.max(0.0), faces));
            while *next <= at + 1e-6 {
                *next += SAMPLE_EVERY;
            }
        }
        Ok(false)
    };
    loop {
        if stop.is_cancelled() {
            return Ok(None);
        }
        if !encode::next_packet(&mut input, &mut packet) {
            break;
        }
        if packet.stream() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_ok() && take(&mut decoder, &mut samples, &mut next)? {
            return Ok(Some(samples));
        }
    }
    if decoder.send_eof().is_ok() {
        take(&mut decoder, &mut samples, &mut next)?;
    }
    Ok(Some(samples))
}

/// One framing: from `start` (seconds on the clip's clock) to the next
/// shot, centred on `centre` (fractions of the source picture).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Shot {
    pub start: f64,
    pub centre: (f64, f64),
}

/// The shots of a clip of `duration` seconds: cut at the speaker changes
/// `turns` (clip clock, in order) that leave every shot at least
/// [`MIN_SHOT`] long, each framed on the median centre of the most
/// prominent face of its `samples`. `None` when no sample has a face.
pub(crate) fn shots(
    samples: &[(f64, Vec<Face>)],
    turns: &[f64],
    duration: f64,
) -> Option<Vec<Shot>> {
    let mut starts = vec![0.0];
    for &t in turns {
        let last = *starts.last().expect("starts with 0");
        if t - last >= MIN_SHOT && duration - t >= MIN_SHOT {
            starts.push(t);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut centres: Vec<Option<(f64, f64)>> = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(f64::INFINITY);
        let prominent: Vec<(f64, f64)> = samples
            .iter()
            .filter(|(t, _)| *t >= start && *t < end)
            .filter_map(|(_, faces)| {
                faces
                    .iter()
                    .max_by(|a, b| a.area().total_cmp(&b.area()))
                    .map(Face::centre)
            })
            .collect();
        centres.push((!prominent.is_empty()).then(|| {
            (
                median(prominent.iter().map(|c| c.0).collect()),
                median(prominent.iter().map(|c| c.1).collect()),
            )
        }));
    }
    // A shot without a face keeps the framing before it (or, at the start,
    // the first one found).
    let first = centres.iter().flatten().next().copied()?;
    let mut out: Vec<Shot> = Vec::with_capacity(starts.len());
    let mut last = first;
    for (start, centre) in starts.into_iter().zip(centres) {
        let mut centre = centre.unwrap_or(last);
        if (centre.0 - last.0).abs() < STAY && (centre.1 - last.1).abs() < STAY {
            centre = last;
        }
        if out.last().is_some_and(|s| s.centre == centre) {
            continue;
        }
        out.push(Shot { start, centre });
        last = centre;
    }
    Some(out)
}

/// Filters that fill `width` x `height` from a `source` (width, height)
/// picture, cropped around each shot's centre (kept inside the picture).
pub(crate) fn crop_filters(shots: &[Shot], source: (u32, u32), width: u32, height: u32) -> String {
    let (sw, sh) = (f64::from(source.0), f64::from(source.1));
    let scale = (f64::from(width) / sw).max(f64::from(height) / sh);
    // The scaled picture, as `scale` with `increase` makes it (even sides).
    let even = |x: f64| ((x / 2.0).round() * 2.0).max(f64::from(2u8));
    let (cw, ch) = (
        even(sw * scale).max(f64::from(width)),
        even(sh * scale).max(f64::from(height)),
    );
    let at = |c: f64, full: f64, out: u32| -> i64 {
        (c * full - f64::from(out) / 2.0)
            .clamp(0.0, full - f64::from(out))
            .round() as i64
    };
    // Constant within a shot: `if(lt(t,T1),X0,if(lt(t,T2),X1,X2))`.
    let piecewise = |value: &dyn Fn(&Shot) -> i64| -> String {
        let last = value(shots.last().expect("at least one shot"));
        if shots.iter().all(|s| value(s) == last) {
            return last.to_string();
        }
        let mut expr = last.to_string();
        for k in (0..shots.len().saturating_sub(1)).rev() {
            expr = format!(
                "if(lt(t,{:.3}),{},{expr})",
                shots[k + 1].start,
                value(&shots[k])
            );
        }
        expr
    };
    let x = piecewise(&|s| at(s.centre.0, cw, width));
    let y = piecewise(&|s| at(s.centre.1, ch, height));
    format!(
        "scale={cw}:{ch},crop=w={width}:h={height}:x='{x}':y='{y}',setsar=1",
        cw = cw as i64,
        ch = ch as i64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(cx: f32, size: f32) -> Face {
        Face {
            x0: cx - size / 2.0,
            y0: 0.3,
            x1: cx + size / 2.0,
            y1: 0.3 + size,
            score: 0.9,
        }
    }

    #[test]
    fn shots_change_only_at_speaker_changes_and_not_too_often() {
        // Left face for 4 s, then the right one; a little jitter.
        let samples: Vec<(f64, Vec<Face>)> = (0..20)
            .map(|k| {
                let t = k as f64 * 0.5;
                let jitter = if k % 2 == 0 { 0.01 } else { -0.01 };
                let cx = if t < 4.0 { 0.25 } else { 0.75 };
                (t, vec![face(cx + jitter, 0.2), face(0.5, 0.05)])
            })
            .collect();
        // Turns at 4 s (kept), 5 s (too soon after it) and 9.5 s (too near
        // the end).
        let cut = shots(&samples, &[4.0, 5.0, 9.5], 10.0).unwrap();
        assert_eq!(cut.len(), 2, "{cut:?}");
        assert_eq!(cut[0].start, 0.0);
        assert!((cut[0].centre.0 - 0.25).abs() < 0.02, "{cut:?}");
        assert_eq!(cut[1].start, 4.0);
        assert!((cut[1].centre.0 - 0.75).abs() < 0.02, "{cut:?}");

        // No speaker change: one framing for the whole clip, whatever moves.
        assert_eq!(shots(&samples, &[], 10.0).unwrap().len(), 1);
        // A change of speaker with the face where it was: no cut.
        let still: Vec<(f64, Vec<Face>)> = (0..20)
            .map(|k| (k as f64 * 0.5, vec![face(0.4, 0.2)]))
            .collect();
        assert_eq!(shots(&still, &[5.0], 10.0).unwrap().len(), 1);
        // No face at all: nothing to follow.
        let empty: Vec<(f64, Vec<Face>)> = (0..20).map(|k| (k as f64 * 0.5, vec![])).collect();
        assert!(shots(&empty, &[5.0], 10.0).is_none());
    }

    #[test]
    fn the_crop_stays_inside_the_picture() {
        let shots = [
            Shot {
                start: 0.0,
                centre: (0.0, 0.5),
            },
            Shot {
                start: 3.0,
                centre: (0.5, 0.5),
            },
            Shot {
                start: 6.5,
                centre: (1.0, 0.5),
            },
        ];
        // 640x360 into 360x640: scaled to 1138x640, x from 0 to 778.
        let f = crop_filters(&shots, (640, 360), 360, 640);
        assert_eq!(
            f,
            "scale=1138:640,crop=w=360:h=640:x='if(lt(t,3.000),0,if(lt(t,6.500),389,778))':y='0',setsar=1"
        );
    }

    #[test]
    fn overlapping_boxes_are_one_face() {
        // A 2x2 map of a 8x8 picture: two confident neighbouring cells of
        // one face, one weak cell.
        let heatmap = [0.9, 0.8, 0.1, 0.2];
        // Boxes 8 px square (exp(ln 2) * 4), centred at 2 px and 6 px.
        let two = 2.0f32.ln();
        let scale = [two, two, 0.0, 0.0, two, two, 0.0, 0.0];
        let offset = [0.0; 8];
        let faces = decode(&heatmap, &scale, &offset, (2, 2), (8.0, 8.0));
        assert_eq!(faces.len(), 1, "{faces:?}");
        assert_eq!(faces[0].score, 0.9);
        assert_eq!((faces[0].x0, faces[0].x1), (0.0, 1.0));
    }
}

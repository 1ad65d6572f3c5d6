//! The smart render: the source's own H.264 copied between keyframes, the
//! ends encoded, the whole as long and as much in sync as a full render.

use cutroom_core::clips::{ClipFormat, Reframe};
use tokio_util::sync::CancellationToken;

use super::{FPS, SYNC_AT, onset, source_encoded, spec, video_frames};
use crate::pipeline::{
    clips::{
        framing::{canvas, reframe_filters},
        render,
        smart::avc,
    },
    media_tests::decode_all,
    probe::probe,
};

/// The source's own picture, no captions: the frames between the first and
/// last keyframe inside the cut are copied (bit for bit), the rest encoded,
/// and the result is as long, as decodable and as much in sync as a full
/// render.
#[test]
fn a_smart_render_copies_the_middle_and_encodes_the_ends() {
    let dir = tempfile::tempdir().unwrap();
    // B-frames in pyramids, as most real files have: packets come out of
    // presentation order.
    let source = source_encoded(dir.path(), "veryfast");
    let media = probe(&source).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    let size = canvas(ClipFormat::Original, picture);
    assert_eq!(size, (640, 360));
    let filters = reframe_filters(ClipFormat::Original, Reframe::Blur, picture, size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    // On frame boundaries, so each clip frame has one source frame.
    spec.start = 3.32;
    spec.end = 8.72;
    spec.smart = true;
    let rendered = render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let frame = 1.0 / FPS;
    // Keyframes every 2 s: 4 s to 8 s is copied, 3.32-4 and 8-8.72 encoded.
    assert_eq!(rendered.copied_frames, 100, "{rendered:?}");
    assert!(
        (rendered.video_seconds - 5.4).abs() <= frame,
        "{rendered:?}"
    );
    assert!(
        (rendered.audio_seconds - 5.4).abs() <= frame,
        "{rendered:?}"
    );

    // ffmpeg decodes it start to end without a complaint.
    let check = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&spec.output)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        check.status.success() && check.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The sample description lists the source's parameter sets and x264's.
    let bytes = std::fs::read(&spec.output).unwrap();
    let at = bytes.windows(4).position(|w| w == b"avcC").unwrap();
    let boxed = u32::from_be_bytes(bytes[at - 4..at].try_into().unwrap()) as usize;
    let described = avc::avc_config(&bytes[at + 4..at - 4 + boxed]).unwrap();
    assert_eq!(described.sps_ids.len(), 2, "{described:?}");
    assert_eq!(described.pps_ids.len(), 2, "{described:?}");
    let (frames, w, h) = video_frames(&spec.output);
    assert_eq!((w, h), size);
    assert_eq!(frames.len(), 135);
    for (k, (t, _)) in frames.iter().enumerate() {
        assert!((t - k as f64 * frame).abs() < 1e-3, "frame {k} at {t}");
    }
    // Copied frames are the source's exactly; encoded ones are close.
    let (source_frames, _, _) = video_frames(&source);
    let at = |list: &[(f64, f64)], t: f64| {
        list.iter()
            .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
            .unwrap()
            .1
    };
    for t in [1.0, 2.4, 4.6] {
        assert_eq!(
            at(&frames, t),
            at(&source_frames, t + 3.32),
            "copied frame at {t}"
        );
    }
    for t in [0.2, 5.2] {
        assert!(
            (at(&frames, t) - at(&source_frames, t + 3.32)).abs() < 2.0,
            "encoded frame at {t}"
        );
    }
    // The flash and the beep are 1.68 s in, together.
    let out_media = probe(&spec.output).unwrap();
    let flash = frames.iter().find(|(_, luma)| *luma > 180.0).unwrap().0;
    let beep = onset(&decode_all(&spec.output, &out_media).unwrap());
    assert!(
        (flash - (SYNC_AT - 3.32)).abs() <= frame,
        "flash at {flash}"
    );
    assert!((beep - (SYNC_AT - 3.32)).abs() <= frame, "beep at {beep}");
    assert!(rendered.thumbnail_at.is_some());
}

/// A cut that starts within the seek margin of the beginning: the smart
/// render reads the source twice, and its second pass once started where
/// the first had stopped, past the cut, leaving a clip with no streams.
#[test]
fn a_smart_render_near_the_start_has_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_encoded(dir.path(), "veryfast");
    let media = probe(&source).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    let size = canvas(ClipFormat::Original, picture);
    let filters = reframe_filters(ClipFormat::Original, Reframe::Blur, picture, size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    // Keyframes at 0, 2 and 4 s: 2-4 s is copied.
    spec.start = 1.0;
    spec.end = 5.0;
    spec.smart = true;
    let rendered = render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    assert_eq!(rendered.copied_frames, 50, "{rendered:?}");
    let (frames, width, height) = video_frames(&spec.output);
    assert_eq!((width, height), (640, 360));
    assert!(
        (frames.len() as i64 - 100).abs() <= 1,
        "{} frames: {rendered:?}",
        frames.len()
    );
    assert!(
        (rendered.audio_seconds - 4.0).abs() <= 1.0 / FPS,
        "{rendered:?}"
    );
}

//! The full render: the exact cut, in sync, at the target loudness, with
//! jump cuts, burned captions and every shape, from any frame rate.

use std::path::Path;

use cutroom_core::clips::{ClipFormat, Reframe};
use ffmpeg_next::{codec, format, frame, media};
use tokio_util::sync::CancellationToken;

use super::{FPS, SYNC_AT, onset, source, spec, video_frames};
use crate::pipeline::{
    clips::{
        captions, edit,
        encode::filter_path,
        framing::{canvas, reframe_filters},
        prepare::range_loudness,
        render::{self, Picture},
    },
    media_tests::{decode_all, ffmpeg},
    probe::probe,
};

#[test]
fn a_vertical_clip_is_the_exact_cut_in_sync_at_the_target_loudness() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let media = probe(&source).unwrap();
    let decoded = decode_all(&source, &media).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    assert_eq!((picture.width, picture.height), (640, 360));
    let measured = range_loudness(&decoded.loudness, 3.0, 8.0).unwrap();
    assert!((-35.0..-15.0).contains(&measured), "{measured}");
    let size = canvas(ClipFormat::Vertical, picture);
    assert_eq!(size, (360, 640));
    let filters = reframe_filters(ClipFormat::Vertical, Reframe::Blur, picture, size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, -14.0 - measured);
    let fitted = render::fit_loudness(&spec, -14.0, &CancellationToken::new())
        .unwrap()
        .unwrap();
    assert!((fitted.lufs.unwrap() + 14.0).abs() <= 0.2, "{fitted:?}");
    spec.gain_db = fitted.gain_db;
    let rendered = render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let frame = 1.0 / FPS;
    assert!(
        (rendered.video_seconds - 5.0).abs() <= frame,
        "{rendered:?}"
    );
    assert!(
        (rendered.audio_seconds - 5.0).abs() <= frame,
        "{rendered:?}"
    );

    // What was written decodes start to end, at the size asked for.
    let (frames, w, h) = video_frames(&spec.output);
    assert_eq!((w, h), size);
    assert!(
        (frames.len() as f64 - 5.0 * FPS).abs() <= 1.0,
        "{} frames",
        frames.len()
    );
    let out_media = probe(&spec.output).unwrap();
    assert_eq!(out_media.container, "mov,mp4,m4a,3gp,3g2,mj2");
    let durations: Vec<f64> = out_media
        .streams
        .iter()
        .filter_map(|s| s.duration)
        .collect();
    assert_eq!(durations.len(), 2, "{out_media:?}");
    assert!(
        (durations[0] - durations[1]).abs() <= frame,
        "{durations:?}"
    );
    // The moov atom comes first (`+faststart`).
    let head = std::fs::read(&spec.output).unwrap();
    let moov = head.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat);

    // The flash and the beep are at 2 s into the clip, together.
    let flash = frames.iter().find(|(_, luma)| *luma > 180.0).unwrap().0;
    let audio = decode_all(&spec.output, &out_media).unwrap();
    let beep = onset(&audio);
    assert!((flash - (SYNC_AT - 3.0)).abs() <= frame, "flash at {flash}");
    assert!((beep - (SYNC_AT - 3.0)).abs() <= frame, "beep at {beep}");
    assert!((flash - beep).abs() <= frame, "flash {flash} beep {beep}");

    // Loudness: on target, peaks under -1 dBTP.
    let lufs = audio.loudness.integrated_lufs.unwrap();
    assert!((lufs + 14.0).abs() <= 1.0, "{lufs} LUFS");
    let peak = audio.loudness.true_peak_dbtp.unwrap();
    assert!(peak < -1.0, "{peak} dBTP");
    assert_eq!(audio.source_rate, 48_000);

    // The thumbnail: a JPEG of the clip's size, not the white flash.
    let at = rendered.thumbnail_at.unwrap();
    assert!(
        (0.3..=4.0).contains(&at) && !(1.96..=2.24).contains(&at),
        "{at}"
    );
    let jpeg = std::fs::read(dir.path().join("thumbnail.jpg")).unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let (thumb, tw, th) = video_frames(&dir.path().join("thumbnail.jpg"));
    assert_eq!((thumb.len(), tw, th), (1, 360, 640));
}

/// A tightened clip: 0.6 s cut out of it before the flash and beep, which
/// come that much earlier, still together, and the clip is that much
/// shorter on both streams, at an even frame rate.
#[test]
fn a_jump_cut_shortens_both_streams_alike_and_keeps_them_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let media = probe(&source).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    let size = canvas(ClipFormat::Original, picture);
    let filters = reframe_filters(ClipFormat::Original, Reframe::Blur, picture, size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    // The cut is 3-8 s; 4.0-4.6 s of the source goes.
    spec.keep = vec![(0.0, 1.0), (1.6, 5.0)];
    assert!((spec.kept_seconds() - 4.4).abs() < 1e-9);
    let fitted = render::fit_loudness(&spec, -14.0, &CancellationToken::new())
        .unwrap()
        .unwrap();
    assert!((fitted.lufs.unwrap() + 14.0).abs() <= 0.2, "{fitted:?}");
    spec.gain_db = fitted.gain_db;
    let rendered = render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let frame = 1.0 / FPS;
    assert!(
        (rendered.video_seconds - 4.4).abs() <= frame,
        "{rendered:?}"
    );
    assert!(
        (rendered.audio_seconds - 4.4).abs() <= frame,
        "{rendered:?}"
    );
    let (frames, _, _) = video_frames(&spec.output);
    assert!(
        (frames.len() as f64 - 4.4 * FPS).abs() <= 1.0,
        "{} frames",
        frames.len()
    );
    for pair in frames.windows(2) {
        assert!(((pair[1].0 - pair[0].0) - frame).abs() < 0.002, "{pair:?}");
    }
    let out_media = probe(&spec.output).unwrap();
    let flash = frames.iter().find(|(_, luma)| *luma > 180.0).unwrap().0;
    let beep = onset(&decode_all(&spec.output, &out_media).unwrap());
    let want = edit::retime(SYNC_AT - 3.0, &spec.keep);
    assert!((want - 1.4).abs() < 1e-9);
    assert!((flash - want).abs() <= frame, "flash at {flash}");
    assert!((beep - want).abs() <= frame, "beep at {beep}");
}

#[test]
fn burned_captions_change_only_the_caption_area_and_formats_have_their_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let source = source(dir.path());
    let media = probe(&source).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture: Picture = picture.unwrap();

    let size = canvas(ClipFormat::Square, picture);
    assert_eq!(size, (360, 360));
    let plain = reframe_filters(ClipFormat::Square, Reframe::Crop, picture, size.0, size.1);
    let words = vec![
        captions::ClipWord {
            start: 0.2,
            end: 1.6,
            text: "CAPTIONED".into(),
        },
        captions::ClipWord {
            start: 1.6,
            end: 3.0,
            text: "WORDS".into(),
        },
    ];
    let script = captions::ass(
        &words,
        5.0,
        captions::BurnStyle {
            width: size.0,
            height: size.1,
            words_per_caption: 2,
            title: None,
        },
    );
    let ass = dir.path().join("a caption's file.ass");
    std::fs::write(&ass, script).unwrap();
    let burned = format!("{plain},ass=filename={}", filter_path(&ass));

    let mut lumas: Vec<Vec<u8>> = Vec::new();
    for (name, filters) in [("plain", plain), ("burned", burned)] {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        let spec = spec(&sub, &source, origin, filters, size, 0.0);
        render::render(&spec, picture, &|_| {}, &CancellationToken::new())
            .unwrap()
            .unwrap();
        lumas.push(luma_at(&spec.output, 1.0, size));
    }
    // At 1 s a caption shows in the bottom quarter and nowhere else.
    let (w, h) = (size.0 as usize, size.1 as usize);
    let differs = |rows: std::ops::Range<usize>| {
        let n = rows.len() * w;
        rows.flat_map(|r| r * w..(r + 1) * w)
            .map(|k| f64::from(lumas[0][k].abs_diff(lumas[1][k])))
            .sum::<f64>()
            / n as f64
    };
    let (top, bottom) = (differs(0..h / 4), differs(h * 3 / 4..h));
    assert!(top < 1.0, "top {top}");
    assert!(bottom > 5.0, "bottom {bottom}");

    let original = canvas(ClipFormat::Original, picture);
    assert_eq!(original, (640, 360));
    let big = Picture {
        width: 3840,
        height: 2160,
        fps: picture.fps,
    };
    assert_eq!(canvas(ClipFormat::Original, big), (1920, 1080));
    assert_eq!(canvas(ClipFormat::Vertical, big), (1080, 1920));
    assert_eq!(canvas(ClipFormat::Square, big), (1080, 1080));
}

/// The luma plane, row by row, of the frame shown at `at`.
fn luma_at(path: &Path, at: f64, size: (u32, u32)) -> Vec<u8> {
    let mut input = format::input(path).unwrap();
    let stream = input.streams().best(media::Type::Video).unwrap();
    let index = stream.index();
    let tb = f64::from(stream.time_base());
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut frame = frame::Video::empty();
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet).unwrap();
        while decoder.receive_frame(&mut frame).is_ok() {
            if (frame.timestamp().unwrap_or(0) as f64 * tb) + 1e-6 < at {
                continue;
            }
            let (w, h) = (size.0 as usize, size.1 as usize);
            let stride = frame.stride(0);
            let y = frame.data(0);
            return (0..h)
                .flat_map(|r| y[r * stride..r * stride + w].iter().copied())
                .collect();
        }
    }
    panic!("no frame at {at}");
}

/// Half an hour of variable-frame-rate video (frame times jittered by up to
/// 10 ms around 30 fps, as phones record), flashing and beeping together
/// once a minute: a clip cut near the end is still in sync, and constant
/// rate.
#[test]
fn a_variable_frame_rate_source_stays_in_sync_after_half_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("vfr.mp4");
    let event = "between(mod(t,60),30,30.2)";
    let video = format!(
        "testsrc2=size=160x90:rate=30:duration=1800,\
         drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{event}',\
         settb=1/90000,setpts='(N/30+0.01*sin(N*1.7))/TB'"
    );
    let audio = format!(
        "aevalsrc=exprs='0.03*(random(0)*2-1)+if({event},0.15*sin(2*PI*1000*t),0)':\
         sample_rate=48000:duration=1800"
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        &audio,
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        source.to_str().unwrap(),
    ]);
    let media = probe(&source).unwrap();
    assert!(media.duration.unwrap() > 1799.0, "{media:?}");
    let (source_frames, _, _) = video_frames(&source);
    let steps: Vec<f64> = source_frames
        .windows(2)
        .take(100)
        .map(|p| p[1].0 - p[0].0)
        .collect();
    let (shortest, longest) = steps
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), s| (a.min(*s), b.max(*s)));
    assert!(
        longest - shortest > 0.01,
        "the source is not variable-rate: {steps:?}"
    );
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    let size = canvas(ClipFormat::Original, picture);
    let filters = reframe_filters(ClipFormat::Original, Reframe::Blur, picture, size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    // 29:25 to 29:35: the event at 29:30 is 5 s in.
    (spec.start, spec.end) = (1765.0, 1775.0);
    let rendered = render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let fps = f64::from(picture.fps);
    let frame = 1.0 / fps;
    assert!(
        (rendered.video_seconds - 10.0).abs() <= frame + 1e-9,
        "{rendered:?}"
    );
    assert!(
        (rendered.audio_seconds - 10.0).abs() <= frame + 1e-9,
        "{rendered:?}"
    );
    let (frames, _, _) = video_frames(&spec.output);
    // Constant rate out: every frame one frame after the last.
    for pair in frames.windows(2) {
        assert!(((pair[1].0 - pair[0].0) - frame).abs() < 0.002, "{pair:?}");
    }
    let flash = frames.iter().find(|(_, luma)| *luma > 180.0).unwrap().0;
    let out_media = probe(&spec.output).unwrap();
    let beep = onset(&decode_all(&spec.output, &out_media).unwrap());
    assert!((flash - 5.0).abs() <= frame + 0.011, "flash at {flash}");
    assert!((beep - 5.0).abs() <= frame, "beep at {beep}");
    assert!(
        (flash - beep).abs() <= frame + 0.011,
        "flash {flash} beep {beep}"
    );
}

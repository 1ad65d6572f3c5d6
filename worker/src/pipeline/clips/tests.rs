//! Clips rendered from real files made by the `ffmpeg` command line: cut
//! lengths, A/V sync, loudness, burned captions and thumbnails, checked by
//! decoding what was written.

use std::path::Path;

use cutroom_core::clips::{ClipFormat, Reframe};
use ffmpeg_next::{codec, format, frame, media};
use tokio_util::sync::CancellationToken;

use super::{
    canvas, captions,
    prepare::range_loudness,
    reframe_filters,
    render::{self, Picture, RenderSpec},
};
use crate::pipeline::{
    audio::{ANALYSIS_RATE, DecodedAudio},
    media_tests::{decode_all, ffmpeg},
    probe::probe,
};

const FPS: f64 = 25.0;
/// Where the source flashes white and beeps at once.
const SYNC_AT: f64 = 5.0;

/// 12 s of 640x360 test pattern at 25 fps with a keyframe every 2 s, over
/// quiet noise (-35 dBFS); at [`SYNC_AT`] the picture flashes white and a
/// 1 kHz beep 15 dB louder than the noise starts, for 0.2 s.
fn source(dir: &Path) -> std::path::PathBuf {
    source_encoded(dir, "ultrafast")
}

/// [`source`] with x264's `preset`: `ultrafast` has no B-frames, the
/// others (like most real files) do.
fn source_encoded(dir: &Path, preset: &str) -> std::path::PathBuf {
    let path = dir.join("source.mp4");
    let video = format!(
        "testsrc2=size=640x360:rate=25:duration=12,\
         drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(t,{SYNC_AT},{})'",
        SYNC_AT + 0.195
    );
    let audio = format!(
        "aevalsrc=exprs='0.03*(random(0)*2-1)+if(between(t,{SYNC_AT},{}),0.15*sin(2*PI*1000*t),0)':\
         sample_rate=48000:duration=12",
        SYNC_AT + 0.2
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
        "-c:v",
        "libx264",
        "-preset",
        preset,
        "-g",
        "50",
        // Keyframes every 2 s and nowhere else (not at the flash).
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

/// Every decoded video frame's time and mean luma, and the picture size.
pub(super) fn video_frames(path: &Path) -> (Vec<(f64, f64)>, u32, u32) {
    // Our own outputs, a JPEG thumbnail among them: not a source, so not
    // through `media::open` and its containers.
    let mut input = format::input(path).unwrap();
    let stream = input.streams().best(media::Type::Video).unwrap();
    let index = stream.index();
    let tb = f64::from(stream.time_base());
    let mut decoder = codec::context::Context::from_parameters(stream.parameters())
        .unwrap()
        .decoder()
        .video()
        .unwrap();
    let mut frames = Vec::new();
    let mut frame = frame::Video::empty();
    let mut take = |decoder: &mut ffmpeg_next::decoder::Video, frames: &mut Vec<(f64, f64)>| {
        while decoder.receive_frame(&mut frame).is_ok() {
            let (w, h) = (frame.width() as usize, frame.height() as usize);
            let stride = frame.stride(0);
            let y = frame.data(0);
            let sum: u64 = (0..h)
                .flat_map(|r| y[r * stride..r * stride + w].iter())
                .map(|v| u64::from(*v))
                .sum();
            let t = frame.timestamp().unwrap_or(0) as f64 * tb;
            frames.push((t, sum as f64 / (w * h) as f64));
        }
    };
    for (s, packet) in input.packets() {
        if s.index() == index {
            decoder.send_packet(&packet).unwrap();
            take(&mut decoder, &mut frames);
        }
    }
    decoder.send_eof().unwrap();
    take(&mut decoder, &mut frames);
    (frames, decoder.width(), decoder.height())
}

/// Where a loud sound first starts in the 16 kHz mono decode: the first
/// 5 ms window 10 dB above the median window.
fn onset(audio: &DecodedAudio) -> f64 {
    let n = ANALYSIS_RATE as usize / 200;
    let rms: Vec<f64> = audio
        .mono16k
        .chunks(n)
        .map(|c| (c.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let mut sorted = rms.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[sorted.len() / 2];
    let k = rms.iter().position(|r| *r > floor * 3.16).unwrap();
    k as f64 * n as f64 / f64::from(ANALYSIS_RATE)
}

fn spec(
    dir: &Path,
    source: &Path,
    origin: f64,
    filters: String,
    size: (u32, u32),
    gain_db: f64,
) -> RenderSpec {
    RenderSpec {
        source: source.to_path_buf(),
        audio_stream: probe(source).unwrap().audio_stream,
        origin,
        start: 3.0,
        end: 8.0,
        video_filters: filters,
        width: size.0,
        height: size.1,
        gain_db,
        output: dir.join("clip.mp4"),
        thumbnail: Some(dir.join("thumbnail.jpg")),
        audio: true,
        crf: render::CLIP_CRF,
        keep: Vec::new(),
        smart: false,
    }
}

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
    let want = super::edit::retime(SYNC_AT - 3.0, &spec.keep);
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
    let burned = format!("{plain},ass=filename={}", super::filter_path(&ass));

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

/// A real portrait (scikit-image's astronaut) on the left of the picture
/// for 4 s, then on the right: CenterFace finds the face on every sampled
/// frame, and with a speaker change at 4 s the framing cuts from one to
/// the other once, each shot centred on the face.
#[test]
fn speaker_framing_follows_the_face_at_the_speaker_change() {
    let engines = crate::pipeline::listening_tests::engines();
    let set = &engines.set;
    let model = set
        .face_detector()
        .expect("the model folder has the face detector (bash .ci/models)");
    let mut detector =
        super::faces::FaceDetector::open(&set.onnxruntime().path, &model.path, 2).unwrap();
    let portrait = crate::pipeline::listening_tests::test_data("astronaut.png");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("two-shots.mp4");
    // 640x360; the 512x512 portrait scaled to 300x300 at x=20, then x=320.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=640x360:rate=25:duration=8",
        "-loop",
        "1",
        "-i",
        portrait.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=stereo",
        "-filter_complex",
        "[1]scale=300:300[p];[0][p]overlay=x='if(lt(t,4),20,320)':y=30:shortest=1[v]",
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-t",
        "8",
        source.to_str().unwrap(),
    ]);
    let samples = super::faces::sample(
        &source,
        (0.0, 8.0),
        &mut detector,
        &CancellationToken::new(),
    )
    .unwrap()
    .unwrap();
    assert!(samples.len() >= 15, "{} samples", samples.len());
    // The face is at about (0.44, 0.23) of the portrait (CenterFace on the
    // image itself); in the picture, its centre x is 20 or 320 plus that.
    let expect = |left: f64| (left + 0.44 * 300.0) / 640.0;
    for (t, faces) in &samples {
        let face = faces.first().unwrap_or_else(|| panic!("no face at {t}"));
        let want = if *t < 4.0 {
            expect(20.0)
        } else {
            expect(320.0)
        };
        assert!((face.centre().0 - want).abs() < 0.05, "{t}: {face:?}");
    }
    let shots = super::faces::shots(&samples, &[4.0], 8.0).unwrap();
    assert_eq!(shots.len(), 2, "{shots:?}");
    assert!((shots[0].centre.0 - expect(20.0)).abs() < 0.05, "{shots:?}");
    assert_eq!(shots[1].start, 4.0);
    assert!(
        (shots[1].centre.0 - expect(320.0)).abs() < 0.05,
        "{shots:?}"
    );

    // Rendered vertical: the face is in the middle of the frame on both
    // sides of the cut (the crop moved with it).
    let media = probe(&source).unwrap();
    let (picture, origin) = render::inspect(&source, media.audio_stream).unwrap();
    let picture = picture.unwrap();
    let size = canvas(ClipFormat::Vertical, picture);
    let filters =
        super::faces::crop_filters(&shots, (picture.width, picture.height), size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    (spec.start, spec.end, spec.audio, spec.thumbnail) = (0.0, 8.0, false, None);
    render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let rendered = super::faces::sample(
        &spec.output,
        (0.0, 8.0),
        &mut detector,
        &CancellationToken::new(),
    )
    .unwrap()
    .unwrap();
    for (t, faces) in &rendered {
        let face = faces
            .first()
            .unwrap_or_else(|| panic!("no face at {t} in the clip"));
        assert!((face.centre().0 - 0.5).abs() < 0.1, "{t}: {face:?}");
    }
}

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
    let described = super::smart::avc::avc_config(&bytes[at + 4..at - 4 + boxed]).unwrap();
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

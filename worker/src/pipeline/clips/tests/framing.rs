//! Speaker framing: the crop follows the face found in the clip.

use cutroom_core::clips::ClipFormat;
use tokio_util::sync::CancellationToken;

use super::spec;
use crate::pipeline::{
    clips::{faces, framing::canvas, render},
    media_tests::ffmpeg,
    probe::probe,
};

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
    let mut detector = faces::FaceDetector::open(&set.onnxruntime().path, &model.path, 2).unwrap();
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
    let samples = faces::sample(
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
    let shots = faces::shots(&samples, &[4.0], 8.0).unwrap();
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
    let filters = faces::crop_filters(&shots, (picture.width, picture.height), size.0, size.1);
    let mut spec = spec(dir.path(), &source, origin, filters, size, 0.0);
    (spec.start, spec.end, spec.audio, spec.thumbnail) = (0.0, 8.0, false, None);
    render::render(&spec, picture, &|_| {}, &CancellationToken::new())
        .unwrap()
        .unwrap();
    let rendered = faces::sample(
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

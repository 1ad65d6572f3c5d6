//! Files made to attack the worker, probed and decoded directly: lists
//! that name other files (one of them itself), images, and a header that
//! declares far less audio than the file holds.

use std::{path::Path, time::Duration};

use cutroom_core::ErrorCode;
use tokio_util::sync::CancellationToken;

use super::{
    StageError,
    audio::{DecodeOptions, decode},
    media_tests::ffmpeg,
    meter::Allowance,
    probe::probe,
};

fn failure(result: Result<impl std::fmt::Debug, StageError>) -> (ErrorCode, String) {
    match result {
        Err(StageError::Failed(f)) => (f.code, f.message),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn tone(path: &Path, seconds: u32) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:sample_rate=16000:duration={seconds}"),
        path.to_str().unwrap(),
    ]);
}

#[test]
fn lists_of_other_files_are_refused_without_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    // Someone else's file, next to the folder the list is in.
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    std::fs::create_dir_all(dir.path().join("job")).unwrap();
    tone(&dir.path().join("other/secret.mp3"), 3);
    let hls = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
               #EXTINF:3.0,\n../other/secret.mp3\n#EXT-X-ENDLIST\n";
    let cases = [
        ("source.m3u8", hls.to_owned()),
        // The name does not choose the format: the content does.
        ("source.mp4", hls.to_owned()),
        ("source.bin", hls.to_owned()),
        (
            "source.ffconcat",
            "ffconcat version 1.0\nfile '../other/secret.mp3'\n".to_owned(),
        ),
        // A list naming itself recursed until the stack overflowed.
        (
            "loop.ffconcat",
            "ffconcat version 1.0\nfile 'loop.ffconcat'\n".to_owned(),
        ),
    ];
    for (name, content) in cases {
        let path = dir.path().join("job").join(name);
        std::fs::write(&path, content).unwrap();
        let (code, message) = failure(probe(&path));
        assert_eq!(code, ErrorCode::UnsupportedMedia, "{name}");
        assert!(message.starts_with("playlists"), "{name}: {message}");
        // The decoder refuses the list as well, had a probe let it by.
        let options = DecodeOptions {
            stream: 0,
            max_duration: Duration::from_secs(60),
            keep_source: false,
            allowance: None,
        };
        let (code, _) = failure(decode(&path, &options, &CancellationToken::new()));
        assert_eq!(code, ErrorCode::UnsupportedMedia, "{name}");
    }
}

#[test]
fn images_are_refused_as_images() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["still.png", "still.jpg"] {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:duration=1",
            "-frames:v",
            "1",
            path.to_str().unwrap(),
        ]);
        let (code, message) = failure(probe(&path));
        assert_eq!(code, ErrorCode::UnsupportedMedia, "{name}");
        assert!(message.starts_with("images"), "{name}: {message}");
    }
}

/// An MP3 of `held` seconds whose Info frame counts 2 s of frames.
fn lying_mp3(path: &Path, held: u32) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:sample_rate=16000:duration={held}"),
        "-c:a",
        "libmp3lame",
        "-b:a",
        "32k",
        path.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(path).unwrap();
    let tag = bytes.windows(4).position(|w| w == b"Info").unwrap();
    // 2 s of 576-sample frames at 16 kHz.
    bytes[tag + 8..tag + 12].copy_from_slice(&56u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn audio_past_its_header_is_decoded_counted_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lying.mp3");
    lying_mp3(&path, 150);
    let media = probe(&path).unwrap();
    assert!(media.duration.unwrap() < 2.1, "{media:?}");
    let options = |allowance| DecodeOptions {
        stream: media.audio_stream,
        max_duration: Duration::from_secs(3600),
        keep_source: false,
        allowance,
    };
    let run = |o: &DecodeOptions| decode(&path, o, &CancellationToken::new());

    // A minute left of the quota: the decode stops there.
    let (code, message) = failure(run(&options(Some(Allowance::new(2, 60.0)))));
    assert_eq!(code, ErrorCode::QuotaExceeded);
    assert!(
        message.contains("1.00 of its 2 monthly media minutes left"),
        "{message}"
    );

    // No quota: 150 s behind a 2 s header is past what any honest file
    // holds (twice the header and two minutes).
    let (code, message) = failure(run(&options(None)));
    assert_eq!(code, ErrorCode::UnsupportedMedia);
    assert!(message.contains("header declares 2 s"), "{message}");

    // 100 s behind it is decoded in full, so the quota counts 100 s.
    lying_mp3(&path, 100);
    let audio = run(&options(Some(Allowance::new(2, 0.0))))
        .unwrap()
        .unwrap();
    assert!((audio.duration() - 100.0).abs() < 0.2, "{audio:?}");
}

//! Probe, decode and silence detection on real files made by the `ffmpeg`
//! command line at test time: the formats users upload, cut-off files and
//! files that are not media at all.

use std::{path::Path, process::Command, time::Duration};

use cutroom_core::{ErrorCode, jobs::SilenceOptions};
use tokio_util::sync::CancellationToken;

use super::{
    StageError,
    audio::{ANALYSIS_RATE, DecodeOptions, DecodedAudio, decode},
    probe::{MediaInfo, probe},
    silence::{detect, tests::assert_close},
};

/// Runs `ffmpeg -y <args>` and panics with its stderr when it fails.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 2 s of tone, 1.5 s of digital silence, 1.5 s of tone, at `rate` with
/// `channels`, encoded by `codec_args` into `path`.
fn tone_gap_tone(path: &Path, rate: u32, channels: u32, codec_args: &[&str]) {
    let graph = format!(
        "sine=frequency=440:sample_rate={rate}:duration=2[a];\
         anullsrc=sample_rate={rate}:channel_layout=mono,atrim=duration=1.5[b];\
         sine=frequency=660:sample_rate={rate}:duration=1.5[c];\
         [a][b][c]concat=n=3:v=0:a=1[out]"
    );
    let channels = channels.to_string();
    let mut args = vec!["-filter_complex", &graph, "-map", "[out]", "-ac", &channels];
    args.extend_from_slice(codec_args);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

fn decode_all(path: &Path, media: &MediaInfo) -> Result<DecodedAudio, StageError> {
    let options = DecodeOptions {
        stream: media.audio_stream,
        max_duration: Duration::from_secs(3600),
        keep_source: true,
    };
    decode(path, &options, &CancellationToken::new()).map(|d| d.expect("not stopped"))
}

fn code(result: Result<impl std::fmt::Debug, StageError>) -> (ErrorCode, String) {
    match result {
        Err(StageError::Failed(f)) => (f.code, f.message),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn common_formats_decode_to_16k_mono_with_their_gaps_found() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, u32, u32, &[&str])] = &[
        ("aac.mp4", 44_100, 2, &["-c:a", "aac", "-b:a", "128k"]),
        ("pcm8k.wav", 8_000, 1, &["-c:a", "pcm_s16le"]),
        (
            "mp3.mp3",
            48_000,
            2,
            &["-c:a", "libmp3lame", "-b:a", "128k"],
        ),
        ("opus.ogg", 48_000, 2, &["-c:a", "libopus"]),
        ("flac51.flac", 48_000, 6, &["-c:a", "flac"]),
    ];
    for &(name, rate, channels, codec) in cases {
        let path = dir.path().join(name);
        tone_gap_tone(&path, rate, channels, codec);

        let media = probe(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let stream = &media.streams[media.audio_stream];
        assert_eq!(
            (stream.kind, stream.sample_rate, stream.channels),
            ("audio", Some(rate), Some(channels as u16)),
            "{name}"
        );
        assert!(
            (media.duration.unwrap() - 5.0).abs() < 0.1,
            "{name}: duration {:?}",
            media.duration
        );

        let audio = decode_all(&path, &media).unwrap_or_else(|e| panic!("{name}: {e}"));
        let seconds = audio.duration();
        assert!((seconds - 5.0).abs() < 0.06, "{name}: decoded {seconds} s");
        assert_eq!(
            (audio.source_rate, audio.source_channels),
            (rate, channels as u16),
            "{name}"
        );
        // The source-rate copy comes out of the same pass, just as long.
        let source = audio.source.as_ref().unwrap();
        let source_seconds = source.len() as f64 / f64::from(rate * channels);
        assert!(
            (source_seconds - seconds).abs() < 0.01,
            "{name}: source copy {source_seconds} s vs {seconds} s"
        );
        assert!(
            audio
                .mono16k
                .iter()
                .all(|s| s.is_finite() && s.abs() <= 1.5),
            "{name}: samples out of range"
        );

        let params = SilenceOptions {
            threshold_db: -40.0,
            min_silence_ms: 500,
            margin_ms: 100,
        };
        let report = detect(&audio.mono16k, ANALYSIS_RATE, &params);
        // The gap is 2.0..3.5 s; speech keeps 100 ms of margin on each side.
        assert_close(&report.silences, &[(2.1, 3.4)], 0.02 + 0.01);
        assert_close(&report.speech, &[(0.0, 2.1), (3.4, report.duration)], 0.03);
    }
}

#[test]
fn a_text_file_is_not_media() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["notes.txt", "source.bin", "source.mp4"] {
        let path = dir.path().join(name);
        std::fs::write(&path, "This is not a video.\nJust some text.\n".repeat(50)).unwrap();
        let (code, message) = code(probe(&path));
        assert_eq!(code, ErrorCode::UnsupportedMedia, "{name}");
        assert_eq!(
            message, "the file is not a readable audio or video file",
            "{name}"
        );
    }
}

#[test]
fn a_video_without_sound_is_rejected_for_having_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=1:size=160x120:rate=10",
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    let (code, message) = code(probe(&path));
    assert_eq!(code, ErrorCode::UnsupportedMedia);
    assert_eq!(message, "the file has no audio stream");
}

#[test]
fn a_truncated_mp4_fails_as_unsupported_media() {
    let dir = tempfile::tempdir().unwrap();
    // Both layouts: index at the end (the default, so the cut loses it) and
    // at the front (faststart, so the cut loses the media data instead).
    let cases = [
        (
            "end.mp4",
            None,
            "the file is not a readable audio or video file",
        ),
        (
            "faststart.mp4",
            Some("+faststart"),
            "the file is truncated or corrupt at",
        ),
    ];
    for (name, extra, want) in cases {
        let full = dir.path().join(name);
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=6:size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=6",
            "-shortest",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ];
        if let Some(flags) = extra {
            args.extend(["-movflags", flags]);
        }
        args.push(full.to_str().unwrap());
        ffmpeg(&args);
        let bytes = std::fs::read(&full).unwrap();
        let cut = dir.path().join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();

        let result = probe(&cut).and_then(|media| decode_all(&cut, &media));
        let (code, message) = code(result);
        assert_eq!(code, ErrorCode::UnsupportedMedia, "{name}: {message}");
        assert!(message.starts_with(want), "{name}: {message}");
    }
}

#[test]
fn a_wav_cut_short_fails_at_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.wav");
    tone_gap_tone(&full, 16_000, 1, &["-c:a", "pcm_s16le"]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.wav");
    // The header plus about 1.5 s of 16-bit mono at 16 kHz.
    std::fs::write(&cut, &bytes[..100 + 48_000]).unwrap();
    let media = probe(&cut).unwrap();
    let (code, message) = code(decode_all(&cut, &media));
    assert_eq!(code, ErrorCode::UnsupportedMedia);
    assert!(
        message.starts_with("the file is truncated or corrupt at 1."),
        "{message}"
    );
}

#[test]
fn decoding_stops_past_the_maximum_duration_and_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.wav");
    tone_gap_tone(&path, 16_000, 1, &["-c:a", "pcm_s16le"]);
    let media = probe(&path).unwrap();

    let short = DecodeOptions {
        stream: media.audio_stream,
        max_duration: Duration::from_secs(2),
        keep_source: false,
    };
    let (code, _) = code(decode(&path, &short, &CancellationToken::new()));
    assert_eq!(code, ErrorCode::SourceTooLong);

    let stop = CancellationToken::new();
    stop.cancel();
    let options = DecodeOptions {
        max_duration: Duration::from_secs(60),
        ..short
    };
    assert!(decode(&path, &options, &stop).unwrap().is_none());
}

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
    silence::{
        detect,
        tests::{assert_close, probs},
    },
};

/// Runs `ffmpeg -y <args>` and panics with its stderr when it fails.
pub(crate) fn ffmpeg(args: &[&str]) {
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

pub(crate) fn decode_all(path: &Path, media: &MediaInfo) -> Result<DecodedAudio, StageError> {
    let options = DecodeOptions {
        stream: media.audio_stream,
        max_duration: Duration::from_secs(3600),
        keep_source: true,
        allowance: None,
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

        // The tones stand in for speech: the detector's verdict is given,
        // the level of the decoded audio places the boundaries.
        let params = SilenceOptions {
            min_silence_ms: 500,
            margin_ms: 100,
            ..SilenceOptions::default()
        };
        let verdict = probs(&[(2.0, 0.5, true), (1.5, 0.0, false), (1.5, 0.5, true)]);
        let report = detect(&audio.mono16k, ANALYSIS_RATE, &params, &verdict);
        let silences: Vec<(f64, f64)> = report.silences.iter().map(|i| (i.start, i.end)).collect();
        let speech: Vec<(f64, f64)> = report.speech.iter().map(|i| (i.start, i.end)).collect();
        // The gap is 2.0..3.5 s; speech keeps 100 ms of margin on each side.
        assert_close(&silences, &[(2.1, 3.4)], 0.02 + 0.01);
        assert_close(&speech, &[(0.0, 2.1), (3.4, report.duration)], 0.03);
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
        allowance: None,
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

/// Loudness measured inside the decode pass, against EBU test signals and
/// against `ffmpeg -af ebur128` on real speech.
mod loudness {
    use std::{
        path::{Path, PathBuf},
        process::Command,
        time::Duration,
    };

    use tokio_util::sync::CancellationToken;

    use super::ffmpeg;
    use crate::pipeline::{
        audio::{DecodeOptions, DecodedAudio, decode},
        probe::probe,
    };

    /// Decodes as the audio stage does: no full-rate copy kept.
    fn decode_stage(path: &Path) -> DecodedAudio {
        let media = probe(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let options = DecodeOptions {
            stream: media.audio_stream,
            max_duration: Duration::from_secs(3600),
            keep_source: false,
            allowance: None,
        };
        decode(path, &options, &CancellationToken::new())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .expect("not stopped")
    }

    /// What `ffmpeg -af ebur128` prints in its summary (one decimal).
    #[derive(Debug)]
    struct Reference {
        integrated: f64,
        range: f64,
        true_peak: f64,
        sample_peak: f64,
    }

    fn reference(path: &Path) -> Reference {
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:a:0",
                "-af",
                "ebur128=peak=true+sample",
                "-f",
                "null",
                "-",
            ])
            .output()
            .expect("ffmpeg is installed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ffmpeg ebur128: {stderr}");
        let summary = stderr.rsplit("Summary:").next().unwrap();
        // The value on the first `key` line after `section`.
        let value = |section: &str, key: &str| -> f64 {
            let rest = summary
                .split(section)
                .nth(1)
                .unwrap_or_else(|| panic!("{section}: {summary}"));
            let line = rest
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .unwrap();
            let number = line.trim_start()[key.len()..]
                .split_whitespace()
                .next()
                .unwrap();
            number.parse().unwrap_or_else(|_| panic!("{line}"))
        };
        Reference {
            integrated: value("Integrated loudness:", "I:"),
            range: value("Loudness range:", "LRA:"),
            true_peak: value("True peak:", "Peak:"),
            sample_peak: value("Sample peak:", "Peak:"),
        }
    }

    /// Test speech that `bash .ci/setup --test` provides; CI always has it.
    fn speech_files() -> (PathBuf, Vec<PathBuf>) {
        let data = std::env::var_os("CUTROOM_TEST_DATA").map_or_else(
            || {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/cutroom/testdata")
            },
            PathBuf::from,
        );
        let jfk = data.join("jfk.wav");
        assert!(
            jfk.is_file(),
            "{} is missing: run `bash .ci/setup --test` (or point CUTROOM_TEST_DATA at it)",
            jfk.display()
        );
        let librivox = Path::new("/usr/share/pocketsphinx/test/data/librivox");
        let mut utterances: Vec<PathBuf> = std::fs::read_dir(librivox)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; install pocketsphinx-testdata (bash .ci/setup --test)",
                    librivox.display()
                )
            })
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        utterances.sort();
        assert!(!utterances.is_empty(), "no WAVs in {}", librivox.display());
        (jfk, utterances)
    }

    #[test]
    fn real_speech_agrees_with_ffmpeg() {
        let dir = tempfile::tempdir().unwrap();
        let (jfk, utterances) = speech_files();
        // The LibriVox utterances in a row (about 25 s), re-encoded as users
        // upload: stereo AAC at 44.1 kHz, and 5.1 FLAC at 48 kHz with a
        // different level per channel so LFE and surround weighting count.
        let mut inputs = Vec::new();
        for u in &utterances {
            inputs.extend(["-i".to_owned(), u.to_str().unwrap().to_owned()]);
        }
        let concat = format!("concat=n={}:v=0:a=1,aresample=48000", utterances.len());
        let variants = [
            (
                "speech.m4a",
                "aresample=44100,pan=stereo|c0=c0|c1=0.6*c0",
                &["-c:a", "aac", "-b:a", "128k"][..],
            ),
            (
                "speech51.flac",
                "pan=5.1|c0=c0|c1=0.7*c0|c2=0.5*c0|c3=0.9*c0|c4=0.4*c0|c5=0.3*c0",
                &["-c:a", "flac"][..],
            ),
        ];
        let mut files = vec![jfk];
        for (name, layout, codec) in variants {
            let path = dir.path().join(name);
            let graph = format!("{concat},{layout}[out]");
            let mut args: Vec<&str> = inputs.iter().map(String::as_str).collect();
            args.extend(["-filter_complex", &graph, "-map", "[out]"]);
            args.extend(codec);
            args.push(path.to_str().unwrap());
            ffmpeg(&args);
            files.push(path);
        }
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let want = reference(&path);
            let audio = decode_stage(&path);
            let got = &audio.loudness;
            eprintln!(
                "{name}: ours I {:?} LRA {:?} TP {:?} SP {:?}; ffmpeg {want:?}",
                got.integrated_lufs,
                got.loudness_range_lu,
                got.true_peak_dbtp,
                got.sample_peak_dbfs
            );
            // ffmpeg prints one decimal: 0.05 of the 0.1 is its rounding.
            let integrated = got.integrated_lufs.unwrap();
            assert!(
                (integrated - want.integrated).abs() <= 0.1,
                "{name}: I {integrated} vs {want:?}"
            );
            // Percentiles by nearest rank (Tech 3342's reference code) vs
            // ffmpeg's histogram: 0.2 LU apart on jfk.wav's 11 s.
            let range = got.loudness_range_lu.unwrap();
            assert!(
                (range - want.range).abs() <= 0.3,
                "{name}: LRA {range} vs {want:?}"
            );
            // ffmpeg oversamples to 192 kHz, the meter 4x: speech has
            // little energy high enough for that to matter.
            let true_peak = got.true_peak_dbtp.unwrap();
            assert!(
                (true_peak - want.true_peak).abs() <= 0.2,
                "{name}: TP {true_peak} vs {want:?}"
            );
            let sample_peak = got.sample_peak_dbfs.unwrap();
            assert!(
                (sample_peak - want.sample_peak).abs() <= 0.06,
                "{name}: SP {sample_peak} vs {want:?}"
            );
            // One series value per complete 100 ms.
            let steps = (audio.duration() * 10.0).floor();
            let len = got.momentary.values.len() as f64;
            assert!(
                (len - steps).abs() <= 1.0,
                "{name}: {len} values for {steps} steps"
            );
            assert_eq!(got.short_term.values.len(), got.momentary.values.len());
        }
    }

    #[test]
    fn a_stereo_reference_tone_is_measured_at_its_own_rate_and_channels() {
        // Tech 3341 case 1 as a 24-bit WAV: 1 kHz at -23 dBFS in both
        // channels is -23 LUFS. The 16 kHz mono copy would read -26.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.wav");
        let a = 10f64.powf(-23.0 / 20.0);
        let src = format!("aevalsrc={a}*sin(2*PI*1000*t)|{a}*sin(2*PI*1000*t):s=48000:d=20");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &src,
            "-c:a",
            "pcm_s24le",
            path.to_str().unwrap(),
        ]);
        let r = decode_stage(&path).loudness;
        let integrated = r.integrated_lufs.unwrap();
        assert!((integrated + 23.0).abs() <= 0.1, "{integrated}");
        assert_eq!(r.momentary.values.len(), 200);
        assert!((r.sample_peak_dbfs.unwrap() + 23.0).abs() <= 0.02, "{r:?}");
    }

    #[test]
    fn a_silent_file_measures_as_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silence.wav");
        let src = "anullsrc=sample_rate=48000:channel_layout=stereo";
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            src,
            "-t",
            "3",
            "-c:a",
            "pcm_s16le",
            path.to_str().unwrap(),
        ]);
        let r = decode_stage(&path).loudness;
        assert_eq!((r.integrated_lufs, r.true_peak_dbtp), (None, None), "{r:?}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""integrated_lufs":null"#), "{json}");
        assert!(!json.contains("inf") && !json.contains("NaN"), "{json}");
    }
}

//! Checks on a rendered clip as a user gets it: downloaded through its
//! presigned URL and examined with the `ffmpeg` command line.

use std::{path::Path, process::Command};

use cutroom_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

/// Every word of a job's transcript (as corrected), `(start, end)` on the
/// source's timeline: what a clip's cuts must not fall inside.
pub(crate) async fn word_times(app: &TestApp, token: &str, job: &str) -> Vec<(f64, f64)> {
    let (_, transcript) = app.get(&format!("/v1/jobs/{job}/transcript"), token).await;
    transcript["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|seg| seg["words"].as_array().unwrap().iter())
        .map(|w| (w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap()))
        .collect()
}

/// One frame at the test sources' 25 fps.
const FRAME: f64 = 0.04;

/// Downloads `file` of a ready clip, checking its size and digest.
pub(crate) async fn download(app: &TestApp, file: &Value) -> Vec<u8> {
    let url = file["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url: {file}"));
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{file}");
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(file["size_bytes"].as_u64().unwrap(), bytes.len() as u64);
    bytes
}

fn stream_durations(path: &Path) -> Vec<(String, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,duration"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (codec, duration) = l.split_once(',').unwrap();
            (codec.to_owned(), duration.trim().parse().unwrap())
        })
        .collect()
}

/// Integrated loudness and true peak, from ffmpeg's own EBU R128 meter.
fn loudness(path: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = &log[log.rfind("Summary:").unwrap()..];
    let value = |key: &str| -> f64 {
        let at = summary.find(key).unwrap() + key.len();
        summary[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (value("I:"), value("Peak:"))
}

/// `HH:MM:SS,mmm --> HH:MM:SS,mmm` lines of an SRT file, as seconds.
fn srt_times(srt: &str) -> Vec<(f64, f64)> {
    let secs = |t: &str| {
        let (hms, ms) = t.split_once(',').unwrap();
        let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    srt.lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(a, b)| (secs(a), secs(b)))
        .collect()
}

/// Everything a user can check of a ready clip: the video is `width` x
/// `height` H.264 + AAC, its streams as long as the clip (less any pauses
/// tightening cut out, none of them inside a word) within a frame,
/// at -14 LUFS within 1 LU and under -1 dBTP; the cut lies in no word of
/// `words` (`(start, end)` on the source's timeline); the captions are in
/// order inside the clip; the thumbnail is a JPEG; the preview is the
/// first seconds without sound.
pub(crate) async fn check_ready_clip(
    app: &TestApp,
    clip: &Value,
    words: &[(f64, f64)],
    size: (u64, u64),
) {
    assert_eq!(clip["status"], "ready", "{clip}");
    let (start, end, duration) = (
        clip["start"].as_f64().unwrap(),
        clip["end"].as_f64().unwrap(),
        clip["duration"].as_f64().unwrap(),
    );
    // Tightening takes pauses out; each lies between words, and the clip
    // is shorter by exactly their length.
    let tightened = &clip["details"]["tightened"];
    let jumps: Vec<(f64, f64)> = tightened["cuts"]
        .as_array()
        .map(|cuts| {
            cuts.iter()
                .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let saved: f64 = jumps.iter().map(|(a, b)| b - a).sum();
    assert!(
        (tightened["seconds_saved"].as_f64().unwrap_or(0.0) - saved).abs() < 0.003,
        "{clip}"
    );
    assert!((end - start - saved - duration).abs() < 0.003, "{clip}");
    for (w_start, w_end) in words {
        for cut in [start, end] {
            assert!(
                !(*w_start + 0.001 < cut && cut < *w_end - 0.001),
                "the cut at {cut} is inside the word {w_start}-{w_end}: {clip}"
            );
        }
        for (a, b) in &jumps {
            assert!(
                start < *a && b < &end && (*w_end <= a + 0.001 || *w_start >= b - 0.001),
                "the jump cut {a}-{b} takes from the word {w_start}-{w_end}: {clip}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let files = clip["files"].as_array().unwrap();
    let file = |kind: &str| {
        files
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {clip}"))
    };

    let video = file("video");
    assert_eq!(video["content_type"], "video/mp4");
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, download(app, video).await).unwrap();
    let streams = stream_durations(&path);
    let codecs: Vec<&str> = streams.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codecs, ["h264", "aac"], "{streams:?}");
    for (_, d) in &streams {
        assert!(
            (d - duration).abs() <= FRAME + 1e-6,
            "{streams:?} vs {duration}"
        );
    }
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{},{}", size.0, size.1)
    );
    let (lufs, peak) = loudness(&path);
    assert!((lufs + 14.0).abs() <= 1.0, "{lufs} LUFS: {clip}");
    assert!(peak < -1.0, "{peak} dBTP: {clip}");

    let srt = String::from_utf8(download(app, file("srt")).await).unwrap();
    let times = srt_times(&srt);
    assert!(!times.is_empty(), "{srt}");
    for (k, (a, b)) in times.iter().enumerate() {
        assert!(0.0 <= *a && a < b && *b <= duration + 0.001, "{srt}");
        if k > 0 {
            assert!(times[k - 1].1 <= *a, "{srt}");
        }
    }
    let vtt = String::from_utf8(download(app, file("vtt")).await).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), times.len(), "{vtt}");
    let thumbnail = download(app, file("thumbnail")).await;
    assert_eq!(&thumbnail[..2], &[0xFF, 0xD8], "a JPEG");
    // The preview: the clip's first seconds, muted.
    let path = dir.path().join("preview.mp4");
    std::fs::write(&path, download(app, file("preview")).await).unwrap();
    let streams = stream_durations(&path);
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(streams[0].0, "h264");
    assert!(
        (streams[0].1 - duration.min(3.0)).abs() <= FRAME + 1e-6,
        "{streams:?}"
    );
}

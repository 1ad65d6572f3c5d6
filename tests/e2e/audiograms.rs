//! Sources without a picture (an MP3, a WAV) give audiograms: clips like
//! any other (same cuts, loudness, captions, thumbnail, preview) whose
//! picture is bars drawn from the sound, in sync with it, with the job's
//! title and the tenant's logo.

use std::{path::Path, process::Command, time::Duration};

use cutroom_tests::{Db, TestApp, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    clips::{check_ready_clip, download, word_times},
    pipeline::fetch_output,
};

const JOB_LIMIT: Duration = Duration::from_secs(240);
/// One frame of an audiogram (30 fps).
const FRAME: f64 = 1.0 / 30.0;

/// Where the worker draws on a 1080-wide canvas (vertical or square):
/// the bars' box (left, top, width, height) as `audiogram::layout` puts
/// it, and the centre of the 152-pixel square the logo is fitted into, 43
/// pixels in from the top right corner.
fn bars_box(height: u32) -> (u32, u32, u32, u32) {
    (54, (height - 432) / 2, 972, 432)
}
const LOGO_CENTRE: (u32, u32) = (1080 - 43 - 76, 43 + 76);

/// A talk with a beep in the middle of each pause (`media::marked_talk`),
/// its sound alone encoded by `codec` into `file`; returns the beeps'
/// times.
fn spoken_audio(file: &Path, codec: &[&str]) -> Vec<f64> {
    let talk = file.with_file_name("talk.mp4");
    let markers = media::marked_talk(&talk, &media::MARKED_SENTENCES);
    let mut args = vec!["-i", talk.to_str().unwrap(), "-vn"];
    args.extend_from_slice(codec);
    args.push(file.to_str().unwrap());
    media::ffmpeg(&args);
    std::fs::remove_file(talk).unwrap();
    markers
}

/// Uploads `file` and waits for its job, which asks for one clip in
/// `formats`.
async fn run_job(
    app: &TestApp,
    token: &str,
    file: &Path,
    content_type: &str,
    clips: Value,
) -> Value {
    let name = file.file_name().unwrap().to_str().unwrap();
    let upload = app
        .upload(token, name, content_type, std::fs::read(file).unwrap())
        .await;
    let options = json!({
        "analysis": {"highlights": {"min_seconds": 5, "max_seconds": 15}},
        "clips": clips,
    });
    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload}/complete"),
            token,
            json!({"options": options}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = app
        .wait_for_job(token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    job
}

/// The job's one clip, ready, checked like a video clip (streams,
/// duration, size, loudness, captions, thumbnail, preview), with the
/// manifest that says it is an audiogram.
async fn the_clip(app: &TestApp, token: &str, job: &Value, size: (u64, u64)) -> (Value, Value) {
    let id = job["id"].as_str().unwrap();
    let (status, clips) = app.get(&format!("/v1/jobs/{id}/clips"), token).await;
    assert_eq!(status, StatusCode::OK, "{clips}");
    let manifest: Value =
        serde_json::from_slice(&fetch_output(app, job, "clips.json").await).unwrap();
    let items = clips["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{manifest}");
    let clip = items[0].clone();
    assert_eq!(clip["details"]["kind"], "audiogram", "{clip}");
    assert_eq!(manifest["clips"][0]["kind"], "audiogram", "{manifest}");
    assert_eq!(manifest["audiogram"]["fps"], 30, "{manifest}");
    assert_eq!(manifest["audiogram"]["title"], true, "{manifest}");
    assert!(manifest.get("note").is_none(), "{manifest}");
    let words = word_times(app, token, id).await;
    check_ready_clip(app, &clip, &words, size).await;
    (clip, manifest)
}

/// The clip's video file of `format`, downloaded into `dir`.
async fn video_file(app: &TestApp, clip: &Value, format: &str, dir: &Path) -> std::path::PathBuf {
    let file = clip["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "video" && f["format"] == format)
        .unwrap_or_else(|| panic!("no {format} video in {clip}"));
    let path = dir.join(format!("{format}.mp4"));
    std::fs::write(&path, download(app, file).await).unwrap();
    path
}

/// Codec, width and height of each stream.
fn streams(path: &Path) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches(',').to_owned())
        .collect()
}

/// The RGB of pixel `(x, y)` of the frame at `at` seconds.
fn pixel(path: &Path, at: f64, width: u32, (x, y): (u32, u32)) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &format!("{at}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let at = ((y * width + x) * 3) as usize;
    [out.stdout[at], out.stdout[at + 1], out.stdout[at + 2]]
}

fn magenta([r, g, b]: [u8; 3]) -> bool {
    r > 200 && g < 60 && b > 200
}

/// Every beep well inside the clip: the bars rise on the frame that holds
/// the beep's start. The bars' box is measured (its mean luma, the middle
/// half of it, clear of any text) frame by frame; the beep is found in 5 ms
/// windows of the sound.
fn check_bars_in_sync(path: &Path, clip: &Value, markers: &[f64], height: u32) {
    let (x, y, w, h) = bars_box(height);
    let bars = media::lavfi_series(
        path,
        "movie",
        &format!("crop={w}:{}:{x}:{},signalstats", h / 2, y + h / 4),
        "lavfi.signalstats.YAVG",
    );
    let loudness = media::beep_windows(path);
    let inside = media::markers_in_clip(clip, markers);
    assert!(!inside.is_empty(), "no beep in {clip}, beeps {markers:?}");
    for at in inside {
        let frames = media::near(&bars, at);
        // The pause before the beep: the background and a flat line.
        let quiet = frames[0].1;
        let risen = frames
            .iter()
            .find(|(_, luma)| *luma > quiet + 5.0)
            .unwrap_or_else(|| panic!("the bars never rise near {at}: {frames:?}"))
            .0;
        let beep = media::beep_near(&loudness, at);
        assert!(
            (beep - at).abs() <= 2.0 * FRAME,
            "beep at {beep}, marker at {at}"
        );
        assert!(
            (risen - beep).abs() <= FRAME + 0.01,
            "bars rise at {risen}, beep at {beep}: out of sync ({frames:?})"
        );
    }
}

/// An MP3 (ID3-less, one audio stream) gives a vertical and a square
/// audiogram, in sync, titled with the upload's name and without a logo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mp3_gives_audiograms_in_sync() {
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("mp3"), "Podcast").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Garden Show.mp3");
    let markers = spoken_audio(&file, &["-c:a", "libmp3lame", "-b:a", "128k"]);
    let job = run_job(
        &app,
        &s.access_token,
        &file,
        "audio/mpeg",
        json!({"count": 1, "formats": ["vertical", "square"], "captions": {"burn": false}}),
    )
    .await;
    assert_eq!(job["title"], "Garden Show.mp3", "{job}");
    let (clip, manifest) = the_clip(&app, &s.access_token, &job, (1080, 1920)).await;
    assert_eq!(manifest["audiogram"]["logo"], false, "{manifest}");

    let vertical = video_file(&app, &clip, "vertical", dir.path()).await;
    assert_eq!(streams(&vertical), ["h264,1080,1920", "aac"]);
    check_bars_in_sync(&vertical, &clip, &markers, 1920);
    assert!(!magenta(pixel(&vertical, 1.0, 1080, LOGO_CENTRE)));
    let square = video_file(&app, &clip, "square", dir.path()).await;
    assert_eq!(streams(&square), ["h264,1080,1080", "aac"]);
    check_bars_in_sync(&square, &clip, &markers, 1080);
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
}

/// A WAV from a tenant with a logo: the logo is in the corner, the
/// captions are burned, and the bars are still in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wav_gives_an_audiogram_with_the_tenant_logo() {
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("wav"), "Radio").await;
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0xff00ff:s=256x256",
        "-frames:v",
        "1",
        logo.to_str().unwrap(),
    ]);
    let res = app
        .client
        .put(format!("{}/v1/tenant/logo", app.base))
        .bearer_auth(&s.access_token)
        .header("content-type", "image/png")
        .body(std::fs::read(&logo).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    let file = dir.path().join("Phone call.wav");
    let markers = spoken_audio(&file, &["-c:a", "pcm_s16le"]);
    let job = run_job(
        &app,
        &s.access_token,
        &file,
        "audio/wav",
        json!({"count": 1, "formats": ["square"], "captions": {"burn": true}}),
    )
    .await;
    let (clip, manifest) = the_clip(&app, &s.access_token, &job, (1080, 1080)).await;
    assert_eq!(manifest["audiogram"]["logo"], true, "{manifest}");
    assert_eq!(manifest["captions_burned"], true, "{manifest}");

    let square = video_file(&app, &clip, "square", dir.path()).await;
    assert_eq!(streams(&square), ["h264,1080,1080", "aac"]);
    for at in [0.5, clip["duration"].as_f64().unwrap() - 0.5] {
        let rgb = pixel(&square, at, 1080, LOGO_CENTRE);
        assert!(magenta(rgb), "no logo at {at} s: {rgb:?}");
    }
    check_bars_in_sync(&square, &clip, &markers, 1080);
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
}

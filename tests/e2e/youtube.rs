//! Video links shaped like YouTube's: the picture and the sound served as
//! separate streams (DASH adaptation sets, an HLS audio rendition), which
//! one fetch downloads both of and merges, so the job has clips with
//! picture and sound in sync; and jobs that ask for the sound alone.

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, TestApp, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    clips::{check_ready_clip, download, word_times},
    pipeline::fetch_output,
};

const JOB_LIMIT: Duration = Duration::from_secs(180);
/// One frame at the test sources' 25 fps.
const FRAME: f64 = 0.04;

/// The loopback host with `talk.mp4` (640x480, sync markers between the
/// sentences) packaged as `dash/manifest.mpd` and `hls/master.m3u8`.
struct Host {
    server: SourceServer,
    markers: Vec<f64>,
}

async fn host() -> Host {
    let server = SourceServer::start().await;
    let talk = server.path("talk.mp4");
    let markers = media::marked_talk(&talk, &media::MARKED_SENTENCES);
    media::dash(&talk, &server.path("dash"));
    media::hls(&talk, &server.path("hls"));
    Host { server, markers }
}

/// Submits a link with one square clip of the highlights, and waits for
/// the job. Square: the whole picture is encoded again, and a flash
/// fills the frame (blurred bars included).
async fn run_job(app: &TestApp, token: &str, url: &str, extra: Value) -> Value {
    let mut options = json!({
        "analysis": {"highlights": {"min_seconds": 5, "max_seconds": 15}},
        "clips": {"count": 1, "formats": ["square"], "captions": {"burn": false}}
    });
    options
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": url}, "options": options}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap();
    let job = app.wait_for_job(token, id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100, "{job}");
    job
}

/// The job's probed streams, as `(type, codec, width, height)`.
fn streams(job: &Value) -> Vec<(String, String, Option<u64>, Option<u64>)> {
    job["media"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["type"].as_str().unwrap().to_owned(),
                s["codec"].as_str().unwrap().to_owned(),
                s["width"].as_u64(),
                s["height"].as_u64(),
            )
        })
        .collect()
}

/// A job from separate video and audio streams: one merged Matroska
/// file with both, the formats it came from on the job, and a clip with
/// picture and sound in sync.
async fn separate_streams_give_clips_in_sync(manifest: &str, max_height: u32, size: (u64, u64)) {
    let host = host().await;
    let app = TestApp::builder(Db::Sqlite)
        .allow_source(&host.server)
        .configure(move |c| c.max_source_height = max_height)
        .start()
        .await;
    let s = app.signup(&email("split"), "Split").await;
    let job = run_job(&app, &s.access_token, &host.server.url(manifest), json!({})).await;

    let media = &job["media"];
    assert_eq!(media["container"], "matroska,webm", "{media}");
    assert_eq!(
        streams(&job),
        [
            ("video".into(), "h264".into(), Some(size.0), Some(size.1)),
            ("audio".into(), "aac".into(), None, None),
        ],
        "{media}"
    );
    let download = &media["download"];
    assert_eq!(download["max_height"], max_height, "{download}");
    assert_eq!(download["audio_only"], false, "{download}");
    let formats = download["formats"].as_array().unwrap();
    assert_eq!(formats.len(), 2, "a video and an audio format: {download}");
    let (video, audio) = (&formats[0], &formats[1]);
    assert_eq!(video["height"], size.1, "{download}");
    assert!(
        video["vcodec"].as_str().unwrap().starts_with("avc1"),
        "{download}"
    );
    assert_eq!(video["acodec"], "none", "{download}");
    assert_eq!(audio["vcodec"], "none", "{download}");
    assert_eq!(
        download["format_id"],
        format!(
            "{}+{}",
            video["format_id"].as_str().unwrap(),
            audio["format_id"].as_str().unwrap()
        ),
        "{download}"
    );

    let id = job["id"].as_str().unwrap();
    let (status, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{clips}");
    let items = clips["items"].as_array().unwrap();
    let manifest = fetch_output(&app, &job, "clips.json").await;
    assert_eq!(items.len(), 1, "{}", String::from_utf8_lossy(&manifest));
    let clip = &items[0];
    let words = word_times(&app, &s.access_token, id).await;
    check_ready_clip(&app, clip, &words, (size.1, size.1)).await;
    check_in_sync(&app, clip, &host.markers).await;
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dash_source_with_separate_video_and_audio_gives_clips_in_sync() {
    // Of the 640x480 and 320x240 renditions, the tallest within 360.
    separate_streams_give_clips_in_sync("dash/manifest.mpd", 360, (320, 240)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hls_source_with_an_audio_rendition_gives_clips_in_sync() {
    separate_streams_give_clips_in_sync(
        "hls/master.m3u8",
        cutroom_core::config::DEFAULT_MAX_SOURCE_HEIGHT,
        (640, 480),
    )
    .await;
}

/// `options.audio_only`: the audio stream alone is fetched, everything
/// else runs, and no clip is attempted; `clips.json` says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_only_job_fetches_the_sound_and_makes_no_clips() {
    let host = host().await;
    let app = TestApp::builder(Db::Sqlite)
        .allow_source(&host.server)
        .start()
        .await;
    let s = app.signup(&email("audio"), "Audio").await;
    let (status, err) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": host.server.url("dash/manifest.mpd")},
                   "options": {"audio_only": "yes"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let job = run_job(
        &app,
        &s.access_token,
        &host.server.url("dash/manifest.mpd"),
        json!({"audio_only": true}),
    )
    .await;
    assert_eq!(job["options"]["audio_only"], true, "{job}");
    assert_eq!(
        streams(&job),
        [("audio".into(), "aac".into(), None, None)],
        "{job}"
    );
    let download = &job["media"]["download"];
    assert_eq!(download["audio_only"], true, "{download}");
    assert_eq!(download["max_height"], Value::Null, "{download}");
    let formats = download["formats"].as_array().unwrap();
    assert_eq!(formats.len(), 1, "{download}");
    assert_eq!(formats[0]["vcodec"], "none", "{download}");
    assert_eq!(formats[0]["acodec"], "mp4a.40.2", "{download}");

    // The sound went through: the words were heard.
    let transcript: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "transcript.json").await).unwrap();
    let heard = transcript.to_string().to_lowercase();
    assert!(heard.contains("garden"), "{transcript}");
    let manifest: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "clips.json").await).unwrap();
    assert_eq!(manifest["clips"], json!([]), "{manifest}");
    assert!(
        manifest["note"]
            .as_str()
            .unwrap()
            .contains("options.audio_only"),
        "{manifest}"
    );
    let id = job["id"].as_str().unwrap();
    let (_, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    assert_eq!(clips["items"], json!([]), "{clips}");
}

/// Every sync marker well inside the clip: the picture's flash and the
/// beep start together (within a frame), where the marker is on the
/// clip's timeline. At least one marker must be in the clip.
async fn check_in_sync(app: &TestApp, clip: &Value, markers: &[f64]) {
    let video = clip["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "video")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, download(app, video).await).unwrap();
    let luma = media::lavfi_series(&path, "movie", "signalstats", "lavfi.signalstats.YAVG");
    let loudness = media::beep_windows(&path);
    let inside = media::markers_in_clip(clip, markers);
    assert!(
        !inside.is_empty(),
        "no marker in {clip}, markers {markers:?}"
    );
    for at in inside {
        let flash = media::near(&luma, at)
            .into_iter()
            .find(|(_, y)| *y > 170.0)
            .unwrap_or_else(|| panic!("no flash near {at}: {clip}"))
            .0;
        let beep = media::beep_near(&loudness, at);
        assert!(
            (flash - at).abs() <= 2.0 * FRAME,
            "flash at {flash}, marker at {at}"
        );
        assert!(
            (beep - at).abs() <= 2.0 * FRAME,
            "beep at {beep}, marker at {at}"
        );
        assert!(
            (flash - beep).abs() <= FRAME + 2.0 * media::BEEP_WINDOW,
            "flash at {flash}, beep at {beep}: out of sync"
        );
    }
}

//! Media made to attack the worker, uploaded as any tenant can: playlists
//! and lists naming another tenant's files, a list naming itself, pictures
//! and frame rates built to hold a worker for minutes, and a header that
//! understates the length to slip past the quota. Each ends its own job
//! with a clear code; nothing of another tenant's is read.

use std::time::Duration;

use cutroom_tests::{Db, TestApp, email, media};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const JOB_LIMIT: Duration = Duration::from_secs(180);
const OPERATOR: &str = "operator-token-of-the-hostile-media-tests-0123456789";

/// Uploads `bytes` as `filename`, completes the upload and waits for the
/// job it became.
async fn upload_job(
    app: &TestApp,
    token: &str,
    filename: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Value {
    let upload = app.upload(token, filename, content_type, bytes).await;
    let (status, job) = app
        .post(&format!("/v1/uploads/{upload}/complete"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    app.wait_for_job(token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await
}

fn failed_with<'a>(job: &'a Value, code: &str, stage: &str) -> &'a str {
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], code, "{job}");
    assert_eq!(job["stage"], stage, "{job}");
    job["error"]["message"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_cannot_read_another_tenants_upload() {
    let app = TestApp::start(Db::Sqlite).await;
    let victim = app.signup(&email("victim"), "Victim").await;
    let attacker = app.signup(&email("attacker"), "Attacker").await;

    // The victim's recording, uploaded and waiting to become a job.
    let dir = tempfile::tempdir().unwrap();
    let speech = dir.path().join("secret.wav");
    media::espeak(&speech, "en-us", "the vault code is seven seven four nine");
    let secret = dir.path().join("secret.mp3");
    media::ffmpeg(&["-i", speech.to_str().unwrap(), secret.to_str().unwrap()]);
    let upload = app
        .upload(
            &victim.access_token,
            "secret.mp3",
            "audio/mpeg",
            std::fs::read(&secret).unwrap(),
        )
        .await;
    let victim_tenant = victim.tenant_id.parse().unwrap();
    let key =
        cutroom_core::storage::upload_key(victim_tenant, upload.parse().unwrap(), "secret.mp3");

    // The job's scratch file is <data>/scratch/<worker>/<job>/source.<ext>
    // and the local store <data>/objects.
    let target = format!("../../../objects/{key}");
    let playlist = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n"
    );
    let concat = format!("ffconcat version 1.0\nfile '{target}'\n");
    for (name, content_type, body) in [
        ("list.m3u8", "audio/mpegurl", &playlist),
        ("list.ffconcat", "audio/x-ffconcat", &concat),
        // The name does not decide: a playlist called talk.mp4 is one too.
        ("talk.mp4", "video/mp4", &playlist),
    ] {
        let job = upload_job(
            &app,
            &attacker.access_token,
            name,
            content_type,
            body.clone().into_bytes(),
        )
        .await;
        let message = failed_with(&job, "unsupported_media", "probe");
        assert!(message.contains("playlists"), "{name}: {message}");
        assert!(
            !message.contains(&victim.tenant_id) && !message.contains("vault"),
            "{name}: {message}"
        );
        assert!(job["media"].is_null(), "{name}: {job}");
        assert_eq!(job["outputs"], json!([]), "{name}: {job}");
    }

    // The victim's upload is untouched, still theirs to complete.
    let uploads = cutroom_core::storage::uploads_prefix(victim_tenant);
    assert_eq!(app.stored_keys(&uploads).await, vec![key]);
    assert!(app.scratch_entries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_names_itself_fails_only_its_own_job() {
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("loop"), "Loops").await;
    // The upload is fetched to source.ffconcat, which this list names.
    let job = upload_job(
        &app,
        &s.access_token,
        "loop.ffconcat",
        "audio/x-ffconcat",
        b"ffconcat version 1.0\nfile 'source.ffconcat'\nfile 'source.ffconcat'\n".to_vec(),
    )
    .await;
    let message = failed_with(&job, "unsupported_media", "probe");
    assert!(message.contains("playlists"), "{message}");

    // The worker lives on and runs the next job.
    let dir = tempfile::tempdir().unwrap();
    let tone = dir.path().join("tone.mp4");
    media::video_with_gaps(&tone, 3.0, &[]);
    let job = upload_job(
        &app,
        &s.access_token,
        "tone.mp4",
        "video/mp4",
        std::fs::read(&tone).unwrap(),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_and_frame_rates_past_the_limits_fail_at_probe() {
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("bomb"), "Bombs").await;
    let dir = tempfile::tempdir().unwrap();
    // Past the default limits (8192 pixels a side, 240 frames a second)
    // while staying small: a wide strip of MJPEG, a tiny picture at 1000
    // frames a second.
    let cases = [
        ("wide.avi", "size=8200x64:rate=5", "mjpeg", "8200x64"),
        (
            "fast.mp4",
            "size=64x64:rate=1000",
            "libx264",
            "1000 frames per second",
        ),
    ];
    for (name, picture, codec, want) in cases {
        let path = dir.path().join(name);
        media::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2={picture}:duration=2"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            codec,
            "-pix_fmt",
            if codec == "mjpeg" {
                "yuvj420p"
            } else {
                "yuv420p"
            },
            "-c:a",
            "aac",
            "-shortest",
            path.to_str().unwrap(),
        ]);
        let job = upload_job(
            &app,
            &s.access_token,
            name,
            "video/mp4",
            std::fs::read(&path).unwrap(),
        )
        .await;
        let message = failed_with(&job, "media_too_large", "probe");
        assert!(message.contains(want), "{name}: {message}");
    }
    assert!(app.scratch_entries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_behind_a_lying_header_is_metered_and_held_to_the_quota() {
    let app = TestApp::builder(Db::Sqlite)
        .configure(|c| c.operator_token = Some(OPERATOR.to_owned().into()))
        .start()
        .await;
    let s = app.signup(&email("liar"), "Liars").await;
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/quota", s.tenant_id),
            Some(OPERATOR),
            Some(json!({ "media_minutes": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let mp3 = |name: &str, held: f64| {
        let path = dir.path().join(name);
        media::mp3_declaring(&path, 2.0, held);
        std::fs::read(path).unwrap()
    };
    let usage = || async { app.get("/v1/usage", &s.access_token).await.1 };

    // 90 s behind a header that declares 2 s: the declared length fits
    // the one-minute quota, the audio does not. It stops while decoding
    // and is not counted.
    let job = upload_job(
        &app,
        &s.access_token,
        "long.mp3",
        "audio/mpeg",
        mp3("long.mp3", 90.0),
    )
    .await;
    let message = failed_with(&job, "quota_exceeded", "audio");
    assert!(message.contains("resets on"), "{message}");
    let used = usage().await;
    assert_eq!(used["jobs"], 0, "{used}");
    assert_eq!(used["media_minutes"], 0.0, "{used}");

    // 40 s behind 2 s fits, and counts as the 40 s decoded.
    let job = upload_job(
        &app,
        &s.access_token,
        "short.mp3",
        "audio/mpeg",
        mp3("short.mp3", 40.0),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let used = usage().await;
    assert_eq!(used["jobs"], 1, "{used}");
    let minutes = used["media_minutes"].as_f64().unwrap();
    assert!((minutes - 40.0 / 60.0).abs() < 0.02, "{used}");
    for stage in used["stages"].as_array().unwrap() {
        if stage["stage"] != "clips" {
            let m = stage["minutes"].as_f64().unwrap();
            assert!((m - 40.0 / 60.0).abs() < 0.02, "{stage}: {used}");
        }
    }

    // Without a quota, far more audio than declared is malformed.
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/quota", s.tenant_id),
            Some(OPERATOR),
            Some(json!({ "media_minutes": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = upload_job(
        &app,
        &s.access_token,
        "huge.mp3",
        "audio/mpeg",
        mp3("huge.mp3", 300.0),
    )
    .await;
    let message = failed_with(&job, "unsupported_media", "audio");
    assert!(message.contains("header declares"), "{message}");
    assert!(app.scratch_entries().is_empty());
}

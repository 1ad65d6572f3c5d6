//! Jobs that fail: media that is not media, a source that is not there
//! (and its retry), a source over the length limit. Each ends with a code
//! and leaves nothing behind.

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, Store, TestApp, both_dbs, email, media};
use reqwest::StatusCode;
use serde_json::json;

use super::JOB_LIMIT;

async fn bad_media_fails_cleanly(db: Db) {
    let app = TestApp::builder(db).store(Store::S3).start().await;
    let s = app.signup(&email("bad"), "Bad Media").await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    media::video_with_gaps(&good, 10.0, &[]);
    let truncated = dir.path().join("truncated.mp4");
    media::truncated_copy(&good, &truncated, 0.4);

    let cases = [
        ("notes.mp4", b"this is not a video, just some text".to_vec()),
        ("truncated.mp4", std::fs::read(&truncated).unwrap()),
    ];
    for (name, bytes) in cases {
        let upload_id = app.upload(&s.access_token, name, "video/mp4", bytes).await;
        let (status, job) = app
            .post(
                &format!("/v1/uploads/{upload_id}/complete"),
                &s.access_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let job = app
            .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
            .await;
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(job["error"]["code"], "unsupported_media", "{name}: {job}");
        assert!(
            !job["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(job["outputs"], json!([]), "{name}");
    }
    assert!(
        app.stored_keys(&format!("tenants/{}/", s.tenant_id))
            .await
            .is_empty(),
        "originals deleted, nothing kept"
    );
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
}
both_dbs!(
    non_media_and_truncated_uploads_fail_cleanly,
    super::bad_media_fails_cleanly
);

async fn unavailable_source(db: Db) {
    let source = SourceServer::start().await;
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("gone"), "Gone").await;
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("deleted.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "source_unavailable", "{job}");
    assert!(app.scratch_entries().is_empty());

    // The dead letter: an admin retries it once the source is there, and
    // the history keeps both attempts.
    let id = job["id"].as_str().unwrap();
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &s.access_token,
            json!({"name": "member", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = app
        .post(
            &format!("/v1/jobs/{id}/retry"),
            key["key"].as_str().unwrap(),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins retry: {err}");
    media::spoken(
        &source.path("deleted.mp4"),
        "Here it is at last, ready for a second try.",
    );
    let (status, retried) = app
        .post(&format!("/v1/jobs/{id}/retry"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert!(retried["error"].is_null(), "{retried}");
    let job = app.wait_for_job(&s.access_token, id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (status, err) = app
        .post(&format!("/v1/jobs/{id}/retry"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "job_succeeded");
    let history = app.status_events(&s.access_token, id).await;
    let statuses: Vec<&str> = history.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "queued",
            "running",
            "failed",
            "requeued",
            "running",
            "succeeded"
        ],
        "{history:?}"
    );
}
both_dbs!(
    unavailable_source_fails_with_a_code,
    super::unavailable_source
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_sources_are_rejected_early() {
    let app = TestApp::builder(Db::Sqlite)
        .configure(|c| c.max_duration = Duration::from_secs(5))
        .start()
        .await;
    let s = app.signup(&email("long"), "Long").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ten-seconds.mp4");
    media::video_with_gaps(&file, 10.0, &[]);
    let upload_id = app
        .upload(
            &s.access_token,
            "ten-seconds.mp4",
            "video/mp4",
            std::fs::read(&file).unwrap(),
        )
        .await;
    let (_, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "source_too_long", "{job}");
    let (_, events) = app
        .get(
            &format!("/v1/jobs/{}/events", job["id"].as_str().unwrap()),
            &s.access_token,
        )
        .await;
    assert!(
        !events.to_string().contains("\"audio\""),
        "rejected at probe, before decoding: {events}"
    );
    assert!(app.scratch_entries().is_empty());
}

//! Cancelling jobs, running and queued.

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, TestApp, both_dbs, email, media};
use reqwest::StatusCode;
use serde_json::json;

use super::GAPS;

async fn cancellation(db: Db) {
    let source = SourceServer::start().await;
    media::video_with_gaps(&source.path("long.mp4"), 20.0, &GAPS);
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("cancel"), "Cancel").await;

    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("slow/long.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["id"].as_str().unwrap().to_owned();
    // Wait until the worker is downloading, then cancel.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, j) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        if j["status"] == "running" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never started: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, j) = app
        .post(&format!("/v1/jobs/{id}/cancel"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let job = app
        .wait_for_job(&s.access_token, &id, Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["error"]["code"], "cancelled");
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
    let (status, err) = app
        .post(&format!("/v1/jobs/{id}/cancel"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    // A queued job is cancelled at once; with no worker it never runs.
    let idle = TestApp::builder(db).without_worker().start().await;
    let s = idle.signup(&email("queued"), "Queued").await;
    let (_, job) = idle
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    let (status, job) = idle
        .post(
            &format!("/v1/jobs/{}/cancel", job["id"].as_str().unwrap()),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["status"], "cancelled", "{job}");
}
both_dbs!(
    cancellation_stops_running_and_queued_jobs,
    super::cancellation
);

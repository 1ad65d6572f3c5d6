//! PostgreSQL restarting under a running fleet.

use std::time::Duration;

use cutroom_tests::{Db, PostgresServer, SourceServer, TestApp, email, media};
use reqwest::StatusCode;
use serde_json::json;

use super::{LIMIT, wait_until};

/// PostgreSQL restarts, cutting every connection, while one job downloads
/// and others wait: the API, the queue and the worker reconnect, and every
/// job ends `succeeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_postgres_restart() {
    let pg = PostgresServer::start();
    let source = SourceServer::start().await;
    media::spoken(&source.path("talk.mp4"), "The database restarts under us.");
    source.set_slow(true);
    let app = TestApp::builder(Db::Postgres)
        .database(pg.url.clone())
        .allow_source(&source)
        .configure(|c| {
            c.worker_heartbeat = Duration::from_secs(1);
            c.retries.max_attempts = 3;
            c.retries.backoff = Duration::from_secs(1);
        })
        .start()
        .await;
    let s = app.signup(&email("restart"), "Restart").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": source.url("flaky/talk.mp4")}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    wait_until(&app, &s.access_token, &ids[0], "downloading", &[], |j| {
        j["status"] == "running" && j["stage"] == "fetch"
    })
    .await;
    pg.restart();
    source.set_slow(false);

    // Requests may fail while connections are re-made; then all is well.
    let deadline = tokio::time::Instant::now() + LIMIT;
    for id in &ids {
        let job = loop {
            let (status, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
            if status == StatusCode::OK
                && matches!(
                    job["status"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                )
            {
                break job;
            }
            assert!(tokio::time::Instant::now() < deadline, "{status} {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let (status, ready) = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert!(app.scratch_entries().is_empty());
}

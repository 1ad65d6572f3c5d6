//! A worker that takes one job ahead (`CUTROOM_WORKER_PREFETCH=1`).

use std::time::Duration;

use cutroom_tests::{SourceServer, TestApp, ThrottledProxy, email, fleet::WorkerProcess, media};
use reqwest::StatusCode;
use serde_json::json;

use super::{WORKER, at, fleet, wait_until};

/// The next job is claimed and its source downloaded while the current
/// one computes (here: uploads its outputs through a crawling proxy), and
/// it waits there for the worker's compute turn. Stopped with SIGTERM, the
/// worker hands both back uncounted; another worker runs each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_a_prefetched_job_hands_it_back() {
    let source = SourceServer::start().await;
    media::spoken(&source.path("first.mp4"), "The first job uploads slowly.");
    media::spoken(
        &source.path("second.mp4"),
        "The second job waits for its turn.",
    );
    let app = fleet(&source, 3).await;
    let s = app.signup(&email("prefetch"), "Prefetch").await;
    let submit = |file: &'static str| {
        let (app, token, url) = (&app, s.access_token.clone(), source.url(file));
        async move {
            let (status, job) = app
                .post(
                    "/v1/jobs",
                    &token,
                    json!({"source": {"type": "youtube", "url": url}}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{job}");
            job["id"].as_str().unwrap().to_owned()
        }
    };
    let proxy = ThrottledProxy::in_front_of_s3(&app).await;
    proxy.set_slow(true);
    let mut a = WorkerProcess::spawn_with(
        WORKER,
        &app,
        &[
            ("S3_ENDPOINT", proxy.url()),
            ("WORKER_PREFETCH", "1".to_owned()),
        ],
    );
    let first = submit("first.mp4").await;
    wait_until(
        &app,
        &s.access_token,
        &first,
        "the first uploads",
        &[&a],
        |j| at(j, 1, "publish"),
    )
    .await;
    let second = submit("second.mp4").await;
    wait_until(
        &app,
        &s.access_token,
        &second,
        "the second is taken",
        &[&a],
        |j| at(j, 1, "fetch"),
    )
    .await;
    let deadline = tokio::time::Instant::now() + super::LIMIT;
    while !fetched(&app, &second).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second job's source never arrived: {}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It has its source and waits: the first still holds the compute turn.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (id, stage) in [(&first, "publish"), (&second, "fetch")] {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        assert!(at(&job, 1, stage), "{job}");
    }

    assert!(
        a.terminate(Duration::from_secs(30)).await,
        "{}",
        a.log_tail()
    );
    for id in [&first, &second] {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        assert_eq!(job["status"], "queued", "{job}");
        assert_eq!(job["attempts"], 0, "{job}");
    }

    proxy.set_slow(false);
    let b = WorkerProcess::spawn(WORKER, &app);
    for id in [&first, &second] {
        let job = wait_until(&app, &s.access_token, id, "the job ends", &[&b], |j| {
            matches!(
                j["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await;
        assert_eq!(job["status"], "succeeded", "{job}\n{}", b.log_tail());
        assert_eq!(job["attempts"], 1, "{job}");
        let history = app.status_events(&s.access_token, id).await;
        let messages: Vec<&str> = history.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            messages,
            ["queued", "running", "handed_back", "running", "succeeded"],
            "{history:?}"
        );
    }
    assert!(
        app.scratch_entries().is_empty(),
        "{:?}",
        app.scratch_entries()
    );
}

/// Whether the job's fetch stage completed.
async fn fetched(app: &TestApp, id: &str) -> bool {
    let cutroom_core::db::Pool::Postgres(pool) = &app.app.db.pool else {
        unreachable!("the fleet runs on PostgreSQL")
    };
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_events WHERE job_id = $1 AND kind = 'stage_completed' AND stage = 'fetch'",
    )
    .bind(id.parse::<uuid::Uuid>().unwrap())
    .fetch_one(pool)
    .await
    .unwrap();
    n > 0
}

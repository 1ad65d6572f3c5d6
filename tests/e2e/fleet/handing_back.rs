//! Jobs whose attempts run out, jobs handed back on SIGTERM, and jobs
//! cancelled while their dead worker's task waits.

use std::time::Duration;

use cutroom_tests::{SourceServer, email, fleet::WorkerProcess, media};
use reqwest::StatusCode;
use serde_json::json;

use super::{WORKER, at, fleet, wait_until};

/// A job whose workers keep dying (a source that crashes them, say) ends
/// `worker_lost` after its last attempt instead of taking workers down
/// forever; a worker stopped with SIGTERM hands its job back uncounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_keep_killing_workers_end_and_sigterm_hands_back() {
    let source = SourceServer::start().await;
    media::spoken(&source.path("talk.mp4"), "Stopping and starting workers.");
    source.set_slow(true);
    let app = fleet(&source, 1).await;
    let s = app.signup(&email("lost"), "Lost").await;
    let submit = || async {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": source.url("flaky/talk.mp4")}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        job["id"].as_str().unwrap().to_owned()
    };

    // SIGTERM mid-download: the job goes back in line, uncounted, and
    // the next worker runs it as attempt 1 again.
    let mut a = WorkerProcess::spawn(WORKER, &app);
    let first = submit().await;
    wait_until(&app, &s.access_token, &first, "downloading", &[&a], |j| {
        at(j, 1, "fetch")
    })
    .await;
    assert!(
        a.terminate(Duration::from_secs(20)).await,
        "{}",
        a.log_tail()
    );
    let (_, job) = app.get(&format!("/v1/jobs/{first}"), &s.access_token).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempts"], 0, "{job}");

    // SIGKILL with no attempts left: the next worker ends it.
    let mut b = WorkerProcess::spawn(WORKER, &app);
    wait_until(
        &app,
        &s.access_token,
        &first,
        "downloading again",
        &[&b],
        |j| at(j, 1, "fetch"),
    )
    .await;
    b.kill();
    let c = WorkerProcess::spawn(WORKER, &app);
    let job = wait_until(&app, &s.access_token, &first, "the job ends", &[&c], |j| {
        j["status"] == "failed"
    })
    .await;
    assert_eq!(job["error"]["code"], "worker_lost", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    let history = app.status_events(&s.access_token, &first).await;
    let messages: Vec<&str> = history.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "queued",
            "running",
            "handed_back",
            "running",
            "lost",
            "failed"
        ],
        "{history:?}"
    );

    // The worker that ended it is fine, and takes the next job.
    source.set_slow(false);
    let second = submit().await;
    let job = wait_until(&app, &s.access_token, &second, "the next job", &[&c], |j| {
        j["status"] == "succeeded" || j["status"] == "failed"
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // Cancelled while its dead worker's task waits to be handed on: it
    // ends `cancelled`, as asked, not `worker_lost`.
    source.set_slow(true);
    let mut c = c;
    let third = submit().await;
    wait_until(&app, &s.access_token, &third, "downloading", &[&c], |j| {
        at(j, 1, "fetch")
    })
    .await;
    c.kill();
    let (status, job) = app
        .post(
            &format!("/v1/jobs/{third}/cancel"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let d = WorkerProcess::spawn(WORKER, &app);
    let job = wait_until(&app, &s.access_token, &third, "the job ends", &[&d], |j| {
        matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })
    .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["error"]["code"], "cancelled", "{job}");
    assert!(
        app.scratch_entries().is_empty(),
        "{:?}",
        app.scratch_entries()
    );
}

//! Workers killed with SIGKILL at each stage of a job: the next one
//! finishes it exactly once.

use std::{collections::BTreeSet, time::Duration};

use cutroom_core::storage::job_prefix;
use cutroom_entities::transcript;
use cutroom_tests::{
    Session, SourceServer, TestApp, ThrottledProxy, email, fleet::WorkerProcess, media,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{WORKER, at, by_pid, fleet, registry, wait_until};
/// A job whose workers are killed at fetch, transcription, clip encoding
/// and upload is finished by the fifth, with one set of outputs, metered
/// once, and the registry tells what became of each worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_killed_workers_finish_exactly_once() {
    let source = SourceServer::start().await;
    media::talk_with_gaps(&source.path("talk.mp4"), 40.0, &[(12.0, 14.0)]);
    let app = fleet(&source, 5).await;
    let s = app.signup(&email("fleet"), "Fleet").await;
    let tenant: Uuid = s.tenant_id.parse().unwrap();
    let (id, a) = kill_while_downloading(&app, &s, &source).await;
    let (b, c) = kill_while_transcribing_and_encoding(&app, &s, &id).await;
    // The proxy lives as long as it did when this was one function.
    let (d, _proxy) = kill_while_uploading(&app, &s, &id).await;
    let (job, mut e) = finish(&app, &s, &id).await;
    check_history(&app, &s, &id).await;
    check_outputs_once(&app, &s, tenant, &id, &job).await;
    check_registry(&app, [&a, &b, &c, &d], &mut e).await;
}

/// Attempt 1 dies downloading, while the registry shows its worker busy
/// with the job; returns the job id and the killed worker.
async fn kill_while_downloading(
    app: &TestApp,
    s: &Session,
    source: &SourceServer,
) -> (String, WorkerProcess) {
    source.set_slow(true);
    let mut a = WorkerProcess::spawn(WORKER, app);
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("flaky/talk.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    wait_until(
        app,
        &s.access_token,
        &id,
        "attempt 1 downloads",
        &[&a],
        |j| at(j, 1, "fetch"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = registry(app).await;
    let entry = by_pid(&list, &a);
    assert_eq!(entry["state"], "busy", "{list}");
    assert_eq!(entry["current_job"]["id"], id.as_str(), "{list}");
    a.kill();
    source.set_slow(false);
    (id, a)
}

/// Attempt 2 dies transcribing, attempt 3 encoding clips; returns their
/// killed workers.
async fn kill_while_transcribing_and_encoding(
    app: &TestApp,
    s: &Session,
    id: &str,
) -> (WorkerProcess, WorkerProcess) {
    let mut b = WorkerProcess::spawn(WORKER, app);
    wait_until(
        app,
        &s.access_token,
        id,
        "attempt 2 transcribes",
        &[&b],
        |j| at(j, 2, "transcribe"),
    )
    .await;
    b.kill();
    let mut c = WorkerProcess::spawn(WORKER, app);
    wait_until(app, &s.access_token, id, "attempt 3 encodes", &[&c], |j| {
        at(j, 3, "clips")
    })
    .await;
    c.kill();
    (b, c)
}

/// Attempt 4 dies uploading its outputs: its storage traffic goes through a
/// proxy that lets it send 64 KiB/s. Returns the killed worker and the proxy.
async fn kill_while_uploading(
    app: &TestApp,
    s: &Session,
    id: &str,
) -> (WorkerProcess, ThrottledProxy) {
    let proxy = ThrottledProxy::in_front_of_s3(app).await;
    proxy.set_slow(true);
    let mut d = WorkerProcess::spawn_with(WORKER, app, &[("S3_ENDPOINT", proxy.url())]);
    wait_until(app, &s.access_token, id, "attempt 4 uploads", &[&d], |j| {
        at(j, 4, "publish")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, uploading) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert!(at(&uploading, 4, "publish"), "still uploading: {uploading}");
    d.kill();
    proxy.set_slow(false);
    (d, proxy)
}

/// Attempt 5 finishes the job; returns it and its worker.
async fn finish(app: &TestApp, s: &Session, id: &str) -> (Value, WorkerProcess) {
    let e = WorkerProcess::spawn(WORKER, app);
    let job = wait_until(app, &s.access_token, id, "the job ends", &[&e], |j| {
        matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}\n{}", e.log_tail());
    assert_eq!(job["attempts"], 5, "{job}");
    (job, e)
}

/// The history tells each attempt and which worker ran it.
async fn check_history(app: &TestApp, s: &Session, id: &str) {
    let history = app.status_events(&s.access_token, id).await;
    let statuses: Vec<(&str, &Value)> = history.iter().map(|(m, d)| (m.as_str(), d)).collect();
    let messages: Vec<&str> = statuses.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        messages,
        [
            "queued",
            "running",
            "lost",
            "running",
            "lost",
            "running",
            "lost",
            "running",
            "lost",
            "running",
            "succeeded"
        ],
        "{history:?}"
    );
    let runners: BTreeSet<&str> = statuses
        .iter()
        .filter(|(m, _)| *m == "running")
        .map(|(_, d)| d["worker"].as_str().unwrap())
        .collect();
    assert_eq!(runners.len(), 5, "five different workers: {history:?}");
    for (n, (_, data)) in statuses.iter().filter(|(m, _)| *m == "lost").enumerate() {
        assert_eq!(data["attempt"], n + 1);
        assert_eq!(data["code"], "worker_lost");
    }
}

/// Exactly one set of outputs: every stored object is a listed output, each
/// output once, one transcript row, the job metered once, each clip once.
async fn check_outputs_once(app: &TestApp, s: &Session, tenant: Uuid, id: &str, job: &Value) {
    let outputs: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    let names: BTreeSet<&str> = outputs.iter().copied().collect();
    assert_eq!(names.len(), outputs.len(), "no output twice: {outputs:?}");
    let artifacts =
        cutroom_core::queries::artifacts::list(&app.app.db.orm, tenant, id.parse().unwrap())
            .await
            .unwrap();
    let listed: BTreeSet<String> = artifacts.into_iter().map(|a| a.object_key).collect();
    let stored: BTreeSet<String> = app
        .stored_keys(&job_prefix(tenant, id.parse().unwrap()))
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, listed, "no orphaned or missing objects");
    let transcripts = transcript::Entity::find()
        .filter(transcript::Column::JobId.eq(id.parse::<Uuid>().unwrap()))
        .count(&app.app.db.orm)
        .await
        .unwrap();
    assert_eq!(transcripts, 1);
    // Five attempts, metered once: the tenant pays for one job.
    let (_, usage) = app.get("/v1/usage", &s.access_token).await;
    assert_eq!(usage["jobs"], 1, "{usage}");
    let stages = usage["stages"].as_array().unwrap();
    assert!(stages.len() >= 8, "{usage}");
    assert!(stages.iter().all(|s| s["jobs"] == 1), "{usage}");
    let (status, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{clips}");
    let indexes: Vec<i64> = clips["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_i64().unwrap())
        .collect();
    assert!(!indexes.is_empty(), "{clips}");
    assert_eq!(
        indexes,
        (1..=indexes.len() as i64).collect::<Vec<_>>(),
        "each clip once: {clips}"
    );
}

/// The dead workers' scratch folders are gone; the registry shows four
/// lost and the last idle with one job done, until it stops on SIGTERM.
async fn check_registry(app: &TestApp, dead_workers: [&WorkerProcess; 4], e: &mut WorkerProcess) {
    assert!(
        app.scratch_entries().is_empty(),
        "{:?}",
        app.scratch_entries()
    );

    // The registry: four lost, the last idle with one job done; then it
    // stops cleanly on SIGTERM and signs off.
    let list = registry(app).await;
    for dead in dead_workers {
        assert_eq!(by_pid(&list, dead)["state"], "lost", "{list}");
    }
    let last = by_pid(&list, e);
    assert_eq!(last["state"], "idle", "{list}");
    assert_eq!(last["jobs_succeeded"], 1, "{list}");
    assert_eq!(list["lost"], 4, "{list}");
    assert!(
        e.terminate(Duration::from_secs(20)).await,
        "{}",
        e.log_tail()
    );
    let list = registry(app).await;
    assert_eq!(by_pid(&list, e)["state"], "stopped", "{list}");
}

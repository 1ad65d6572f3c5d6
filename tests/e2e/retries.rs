//! Failures that may pass (a video host having an outage here) run again
//! after a growing pause; after the last attempt the job ends `failed`
//! with every attempt in its history, and an admin can retry it. Failures
//! that would repeat are never retried (`pipeline::unavailable_source`).

use std::time::Duration;

use cutroom_tests::{
    Db, SourceServer, Store, TestApp, ThrottledProxy, both_dbs, email, fleet::WorkerProcess, media,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JOB_LIMIT: Duration = Duration::from_secs(180);
const WORKER: &str = env!("CARGO_BIN_EXE_cutroom-fleet-worker");

fn messages(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(m, _)| m.as_str()).collect()
}

async fn submit(app: &TestApp, token: &str, url: String) -> String {
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": url}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job["id"].as_str().unwrap().to_owned()
}

async fn passing_outages_are_retried(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "The host was down for a moment, and then it came back.",
    );
    source.set_down(true);
    let app = TestApp::builder(db)
        .allow_source(&source)
        .configure(|c| {
            c.retries.max_attempts = 3;
            c.retries.backoff = Duration::from_secs(2);
        })
        .start()
        .await;
    let s = app.signup(&email("retry"), "Retry").await;
    let id = submit(&app, &s.access_token, source.url("flaky/talk.mp4")).await;

    // The first attempt fails and the job waits for its retry time.
    let deadline = tokio::time::Instant::now() + JOB_LIMIT;
    let waiting = loop {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        if job["retry_at"].is_string() {
            break job;
        }
        assert!(
            job["status"] == "queued" || job["status"] == "running",
            "{job}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never retried: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(waiting["attempts"], 1, "{waiting}");
    assert_eq!(waiting["waiting_for_slot"], false, "{waiting}");
    assert!(waiting["error"].is_null(), "{waiting}");
    assert!(source.refused() > 0);
    source.set_down(false);

    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    assert!(job["retry_at"].is_null(), "{job}");
    let events = app.status_events(&s.access_token, &id).await;
    assert_eq!(
        messages(&events),
        ["queued", "running", "retrying", "running", "succeeded"],
        "{events:?}"
    );
    let retrying = &events[2].1;
    assert_eq!(retrying["attempt"], 1, "{retrying}");
    assert_eq!(retrying["code"], "download_failed", "{retrying}");
    assert!(retrying["retry_at"].is_string(), "{retrying}");
    assert_eq!(events[1].1["attempt"], 1);
    assert_eq!(events[3].1["attempt"], 2);
    assert!(
        events[3].1["worker"]
            .as_str()
            .is_some_and(|w| w.starts_with("cutroom-worker-")),
        "{events:?}"
    );
    assert!(app.scratch_entries().is_empty());
}
both_dbs!(
    passing_outages_are_retried_after_a_pause,
    super::passing_outages_are_retried
);

async fn dead_letter(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "This host stays down for longer than the retries last.",
    );
    source.set_down(true);
    let app = TestApp::builder(db)
        .allow_source(&source)
        .configure(|c| {
            c.retries.max_attempts = 2;
            c.retries.backoff = Duration::from_secs(1);
        })
        .start()
        .await;
    let s = app.signup(&email("dead"), "Dead letter").await;
    let id = submit(&app, &s.access_token, source.url("flaky/talk.mp4")).await;

    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "download_failed", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    let events = app.status_events(&s.access_token, &id).await;
    assert_eq!(
        messages(&events),
        ["queued", "running", "retrying", "running", "failed"],
        "{events:?}"
    );
    assert_eq!(events[4].1["attempt"], 2);
    assert_eq!(events[4].1["code"], "download_failed");

    // Once the host is back, an admin runs it again with a fresh budget.
    source.set_down(false);
    let (status, retried) = app
        .post(&format!("/v1/jobs/{id}/retry"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    let events = app.status_events(&s.access_token, &id).await;
    assert_eq!(
        messages(&events)[5..],
        ["requeued", "running", "succeeded"],
        "{events:?}"
    );
}
both_dbs!(jobs_fail_after_their_last_attempt, super::dead_letter);

/// Object storage goes down in the middle of a worker's upload of the
/// outputs (slowed by a proxy): storing them fails with `storage_error`,
/// the job waits, the API reports itself not ready,
/// and once storage is back the next attempt (fetching the original again,
/// since it is deleted only when the job ends) stores one set of outputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_outages_mid_job_are_retried() {
    let mut app = TestApp::builder(Db::Postgres)
        .store(Store::S3)
        .without_worker()
        .configure(|c| {
            c.retries.max_attempts = 3;
            c.retries.backoff = Duration::from_secs(3);
        })
        .start()
        .await;
    let s = app.signup(&email("outage"), "Outage").await;
    let tenant = s.tenant_id.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("talk.mp4");
    media::talk_with_gaps(&file, 20.0, &[(8.0, 10.0)]);
    let upload_id = app
        .upload(
            &s.access_token,
            "talk.mp4",
            "video/mp4",
            std::fs::read(&file).unwrap(),
        )
        .await;
    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();

    // The worker's storage traffic goes through a proxy that slows its
    // uploads to 64 KiB/s, and storage goes down while it is storing the
    // outputs.
    let proxy = ThrottledProxy::in_front_of_s3(&app).await;
    proxy.set_slow(true);
    let worker = WorkerProcess::spawn_with(WORKER, &app, &[("S3_ENDPOINT", proxy.url())]);
    let deadline = tokio::time::Instant::now() + JOB_LIMIT;
    loop {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        if job["stage"] == "publish" {
            break;
        }
        assert!(
            job["status"] == "queued" || job["status"] == "running",
            "{job}\n{}",
            worker.log_tail()
        );
        assert!(tokio::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, uploading) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert_eq!(
        uploading["stage"], "publish",
        "still uploading: {uploading}"
    );
    assert_eq!(
        uploading["status"], "running",
        "still uploading: {uploading}"
    );
    app.s3.as_mut().unwrap().stop();
    proxy.set_slow(false);
    let waiting = loop {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        if job["retry_at"].is_string() {
            break job;
        }
        assert_eq!(job["status"], "running", "{job}");
        assert!(tokio::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(waiting["attempts"], 1, "{waiting}");
    let (status, ready) = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["storage"], "unavailable", "{ready}");
    app.s3.as_mut().unwrap().restart();

    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}\n{}", worker.log_tail());
    assert_eq!(job["attempts"], 2, "{job}");
    let events = app.status_events(&s.access_token, &id).await;
    assert_eq!(
        messages(&events),
        ["queued", "running", "retrying", "running", "succeeded"],
        "{events:?}"
    );
    assert_eq!(events[2].1["code"], "storage_error", "{events:?}");
    let (status, ready) = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ready}");

    // One set of outputs, and the original gone now that the job ended.
    let job_id = id.parse().unwrap();
    let listed: std::collections::BTreeSet<String> =
        cutroom_core::queries::artifacts::list(&app.app.db.orm, tenant, job_id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.object_key)
            .collect();
    let stored: std::collections::BTreeSet<String> = app
        .stored_keys(&cutroom_core::storage::job_prefix(tenant, job_id))
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, listed);
    assert!(
        app.stored_keys(&cutroom_core::storage::uploads_prefix(tenant))
            .await
            .is_empty(),
        "the original is deleted once the job ended"
    );
    assert!(app.scratch_entries().is_empty());
}

/// An admin retry and the sweeper's deletion of a failed job's original
/// never both win, whichever reads the job first: either the retry runs
/// with the original still stored, or the original is gone and the retry
/// is refused (`source_gone`), leaving the job failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_and_the_originals_sweep_never_both_win() {
    use cutroom_core::queries::jobs;
    use cutroom_entities::{JobStatus, job};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

    let app = TestApp::builder(Db::Sqlite).without_worker().start().await;
    let s = app.signup(&email("race"), "Race").await;
    let tenant: uuid::Uuid = s.tenant_id.parse().unwrap();
    let upload_id = app
        .upload(&s.access_token, "talk.mp4", "video/mp4", vec![7; 4096])
        .await;
    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let db = &app.app.db.orm;
    // Failed for a passing reason two days ago: its original is due.
    let fail = || async {
        let row = job::Entity::find_by_id(id).one(db).await.unwrap().unwrap();
        let mut row: job::ActiveModel = row.into();
        row.status = Set(JobStatus::Failed);
        row.error_code = Set(Some("download_failed".into()));
        row.finished_at = Set(Some(chrono::Utc::now() - chrono::Duration::days(2)));
        row.update(db).await.unwrap();
    };
    let prefix = cutroom_core::storage::uploads_prefix(tenant);
    let originals = || app.stored_keys(&prefix);
    let sweep =
        || cutroom_core::housekeeping::sweep::spent_originals(&app.housekeeper, chrono::Utc::now());
    let retry_path = format!("/v1/jobs/{id}/retry");
    let retry = || app.post(&retry_path, &s.access_token, json!({}));

    // The retry first: the sweep leaves the original to the queued job.
    fail().await;
    let (status, body) = retry().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(sweep().await.unwrap(), 0);
    assert_eq!(originals().await.len(), 1);

    // The sweep reads the job, then the retry lands, then the sweep acts
    // on what it read: it must not take the original.
    fail().await;
    let due = jobs::spent_originals(db, chrono::Utc::now(), chrono::Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let (status, body) = retry().await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let key = due[0].source_key.clone().unwrap();
    assert!(!jobs::take_source_key(db, tenant, id, &key).await.unwrap());
    assert_eq!(originals().await.len(), 1);

    // The retry checks the original is stored, then the sweep takes it,
    // then the retry queues the job: the queueing must fail.
    fail().await;
    assert!(jobs::take_source_key(db, tenant, id, &key).await.unwrap());
    assert!(jobs::requeue(db, tenant, id).await.unwrap().is_none());
    jobs::restore_source_key(db, tenant, id, &key)
        .await
        .unwrap();

    // The sweep first: the original is gone, and the retry is refused
    // rather than queued without a source.
    assert_eq!(sweep().await.unwrap(), 1);
    assert!(originals().await.is_empty());
    let (status, body) = retry().await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "source_gone", "{body}");
    let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert_eq!(job["status"], "failed", "{job}");
}

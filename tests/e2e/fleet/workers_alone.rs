//! Worker processes with no API process beside them.

use std::time::Duration;

use cutroom_tests::{
    Db, SourceServer, Store, TestApp, email, fleet::WorkerProcess, media, webhooks::Receiver,
};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use super::{LIMIT, WORKER};

/// A fleet of workers with no API process keeps every promise: a job
/// waiting for its retry time is handed over, webhooks are sent and an
/// abandoned upload is swept, by the workers' own housekeeping. (All three
/// lived in the API process, so such a fleet kept none of them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_alone_retry_sweep_and_send_webhooks() {
    let source = SourceServer::start().await;
    media::talk_with_gaps(&source.path("talk.mp4"), 8.0, &[]);
    let receiver = Receiver::start(&[]).await;
    let hook_host = receiver.addr.clone();
    let mut app = TestApp::builder(Db::Postgres)
        .store(Store::S3)
        .without_worker()
        .allow_source(&source)
        .configure(move |c| {
            c.worker_heartbeat = Duration::from_secs(1);
            c.whisper_threads = 1;
            c.retries.max_attempts = 3;
            c.retries.backoff = Duration::from_secs(2);
            c.upload_url_ttl = Duration::from_secs(1);
            // The fleet sweeps once a second, whichever process does.
            c.sweep_interval = Duration::from_secs(1);
            c.webhooks.private_hosts.insert(hook_host);
        })
        .start()
        .await;
    let s = app.signup(&email("alone"), "Alone").await;
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &s.access_token,
            json!({"url": receiver.url(), "events": ["job.succeeded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let (status, upload) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "never.mp4", "content_type": "video/mp4", "size_bytes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let upload_id: Uuid = upload["upload_id"].as_str().unwrap().parse().unwrap();
    // The host is down for the first attempt: the job then waits for its
    // retry time, and only a dispatcher hands it to the queue again.
    source.set_down(true);
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("flaky/talk.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();

    // The API goes away for good; one worker process is the whole fleet.
    app.stop_serving().await;
    let mut worker = WorkerProcess::spawn_with(
        WORKER,
        &app,
        &[
            ("SWEEP_INTERVAL_SECS", "1".into()),
            ("UPLOAD_GRACE_SECS", "0".into()),
            ("WEBHOOK_PRIVATE_HOSTS", receiver.addr.clone()),
        ],
    );
    let db = &app.app.db.orm;
    let read = || async {
        let job = cutroom_entities::job::Entity::find_by_id(id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let upload = cutroom_entities::upload::Entity::find_by_id(upload_id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        (job, upload)
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (job, _) = read().await;
        if job.retry_at.is_some() {
            assert_eq!(job.attempts, 1, "{job:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never waited to retry: {job:?}\n{}",
            worker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    source.set_down(false);
    loop {
        let (job, upload) = read().await;
        let swept = upload.status == cutroom_entities::UploadStatus::Expired;
        let sent = receiver.got().len();
        if job.status.is_terminal() && sent >= 1 && swept {
            assert_eq!(
                job.status,
                cutroom_entities::JobStatus::Succeeded,
                "{job:?}"
            );
            assert_eq!(job.attempts, 2, "{job:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?} after {} attempts, {sent} webhooks, upload swept: {swept}\n{}",
            job.status,
            job.attempts,
            worker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = receiver.got();
    assert_eq!(sent.len(), 1, "one job.succeeded message");
    assert_eq!(sent[0].json()["type"], "job.succeeded");
    assert_eq!(sent[0].json()["data"]["job_id"], id.to_string());
    assert!(
        worker.terminate(Duration::from_secs(30)).await,
        "{}",
        worker.log_tail()
    );
}

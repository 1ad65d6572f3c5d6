//! The fleet: worker processes of their own against one PostgreSQL and one
//! S3-compatible server, killed with SIGKILL mid-job and stopped with
//! SIGTERM. Another worker finishes the job exactly once: one set of
//! outputs, no duplicate rows, no orphaned objects, no scratch left.

use std::{collections::BTreeSet, time::Duration};

use cutroom_core::storage::job_prefix;
use cutroom_entities::transcript;
use cutroom_tests::{
    Db, PostgresServer, SourceServer, Store, TestApp, ThrottledProxy, email, fleet::WorkerProcess,
    media, webhooks::Receiver,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

const WORKER: &str = env!("CARGO_BIN_EXE_cutroom-fleet-worker");
const OPERATOR: &str = "operator-token-of-the-fleet-tests-0123456789";
const LIMIT: Duration = Duration::from_secs(240);

async fn fleet(source: &SourceServer, max_attempts: u32) -> TestApp {
    TestApp::builder(Db::Postgres)
        .store(Store::S3)
        .without_worker()
        .allow_source(source)
        .configure(move |c| {
            c.worker_heartbeat = Duration::from_secs(1);
            c.retries.max_attempts = max_attempts;
            c.operator_token = Some(OPERATOR.to_owned().into());
            c.whisper_threads = 1;
        })
        .start()
        .await
}

/// Polls the job until `ready` holds for it.
async fn wait_until(
    app: &TestApp,
    token: &str,
    id: &str,
    what: &str,
    workers: &[&WorkerProcess],
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (status, job) = app.get(&format!("/v1/jobs/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if ready(&job) {
            return job;
        }
        if tokio::time::Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(|w| w.log_tail()).collect();
            panic!(
                "{what}: not reached in {LIMIT:?}: {job}\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn at(job: &Value, attempt: i64, stage: &str) -> bool {
    job["status"] == "running" && job["attempts"] == attempt && job["stage"] == stage
}

async fn registry(app: &TestApp) -> Value {
    let (status, list) = app.get("/v1/admin/workers", OPERATOR).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list
}

fn by_pid<'a>(list: &'a Value, w: &WorkerProcess) -> &'a Value {
    list["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["pid"] == w.pid)
        .unwrap_or_else(|| panic!("worker {} not in {list}", w.pid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_killed_workers_finish_exactly_once() {
    let source = SourceServer::start().await;
    media::talk_with_gaps(&source.path("talk.mp4"), 40.0, &[(12.0, 14.0)]);
    let app = fleet(&source, 5).await;
    let s = app.signup(&email("fleet"), "Fleet").await;
    let tenant: Uuid = s.tenant_id.parse().unwrap();

    // Attempt 1 dies downloading.
    source.set_slow(true);
    let mut a = WorkerProcess::spawn(WORKER, &app);
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
        &app,
        &s.access_token,
        &id,
        "attempt 1 downloads",
        &[&a],
        |j| at(j, 1, "fetch"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = registry(&app).await;
    let entry = by_pid(&list, &a);
    assert_eq!(entry["state"], "busy", "{list}");
    assert_eq!(entry["current_job"]["id"], id.as_str(), "{list}");
    a.kill();
    source.set_slow(false);

    // Attempt 2 dies transcribing, attempt 3 encoding clips.
    let mut b = WorkerProcess::spawn(WORKER, &app);
    wait_until(
        &app,
        &s.access_token,
        &id,
        "attempt 2 transcribes",
        &[&b],
        |j| at(j, 2, "transcribe"),
    )
    .await;
    b.kill();
    let mut c = WorkerProcess::spawn(WORKER, &app);
    wait_until(
        &app,
        &s.access_token,
        &id,
        "attempt 3 encodes",
        &[&c],
        |j| at(j, 3, "clips"),
    )
    .await;
    c.kill();

    // Attempt 4 dies uploading its outputs: its storage traffic goes through
    // a proxy that lets it send 64 KiB/s.
    let proxy = ThrottledProxy::in_front_of_s3(&app).await;
    proxy.set_slow(true);
    let mut d = WorkerProcess::spawn_with(WORKER, &app, &[("S3_ENDPOINT", proxy.url())]);
    wait_until(
        &app,
        &s.access_token,
        &id,
        "attempt 4 uploads",
        &[&d],
        |j| at(j, 4, "publish"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, uploading) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert!(at(&uploading, 4, "publish"), "still uploading: {uploading}");
    d.kill();
    proxy.set_slow(false);

    // Attempt 5 finishes.
    let mut e = WorkerProcess::spawn(WORKER, &app);
    let job = wait_until(&app, &s.access_token, &id, "the job ends", &[&e], |j| {
        matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
    })
    .await;
    assert_eq!(job["status"], "succeeded", "{job}\n{}", e.log_tail());
    assert_eq!(job["attempts"], 5, "{job}");

    // The history tells each attempt and which worker ran it.
    let history = app.status_events(&s.access_token, &id).await;
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

    // Exactly one set of outputs: every stored object is a listed output,
    // each output once, and one transcript row.
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

    // The dead workers' scratch folders went when the next one started.
    assert!(
        app.scratch_entries().is_empty(),
        "{:?}",
        app.scratch_entries()
    );

    // The registry: four lost, the last idle with one job done; then it
    // stops cleanly on SIGTERM and signs off.
    let list = registry(&app).await;
    for dead in [&a, &b, &c, &d] {
        assert_eq!(by_pid(&list, dead)["state"], "lost", "{list}");
    }
    let last = by_pid(&list, &e);
    assert_eq!(last["state"], "idle", "{list}");
    assert_eq!(last["jobs_succeeded"], 1, "{list}");
    assert_eq!(list["lost"], 4, "{list}");
    assert!(
        e.terminate(Duration::from_secs(20)).await,
        "{}",
        e.log_tail()
    );
    let list = registry(&app).await;
    assert_eq!(by_pid(&list, &e)["state"], "stopped", "{list}");
}

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

/// The load test: 1,000 jobs submitted at once by 50 clients (ten tenants,
/// five API keys each) through two API replicas, four workers running the
/// queue's whole path with no media stages (`Worker::without_stages`).
/// Exactly 1,000 jobs end, each once: one task each in the queue, one
/// `running` and one `succeeded` event each, one attempt each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_from_fifty_clients_finish_exactly_once() {
    const TENANTS: usize = 10;
    const KEYS: usize = 5;
    const JOBS_EACH: usize = 20;
    const TOTAL: usize = TENANTS * KEYS * JOBS_EACH;
    let first = TestApp::builder(Db::Postgres)
        .without_worker()
        .configure(|c| c.tenant_max_running = 8)
        .start()
        .await;
    let second = TestApp::builder(Db::Postgres)
        .without_worker()
        .share(&first)
        .configure(|c| c.tenant_max_running = 8)
        .start()
        .await;
    let stop = tokio_util::sync::CancellationToken::new();
    for _ in 0..4 {
        let w = cutroom_worker::Worker::new(
            first.app.config.clone(),
            first.app.db.clone(),
            first.app.store.clone(),
        )
        .without_stages();
        tokio::spawn(w.run(stop.clone()));
    }
    let mut keys = Vec::new();
    for t in 0..TENANTS {
        let s = first.signup(&email(&format!("load{t}")), "Load").await;
        for k in 0..KEYS {
            let (status, key) = first
                .post(
                    "/v1/api-keys",
                    &s.access_token,
                    json!({"name": format!("client {k}"), "role": "member"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{key}");
            keys.push(key["key"].as_str().unwrap().to_owned());
        }
    }

    let first = std::sync::Arc::new(first);
    let second = std::sync::Arc::new(second);
    let clients: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let app = if i % 2 == 0 { &first } else { &second }.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(JOBS_EACH);
                for n in 0..JOBS_EACH {
                    let (status, job) = app
                        .post(
                            "/v1/jobs",
                            &key,
                            json!({"source": {"type": "youtube", "url": format!("https://youtu.be/dQw4w9WgX{:02}", n)}}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::CREATED, "{job}");
                    ids.push(job["id"].as_str().unwrap().parse::<Uuid>().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for c in clients {
        ids.extend(c.await.unwrap());
    }
    assert_eq!(ids.len(), TOTAL, "one id per accepted job");

    let db = &first.app.db.orm;
    let done = || async {
        cutroom_entities::job::Entity::find()
            .filter(
                cutroom_entities::job::Column::Status.eq(cutroom_entities::JobStatus::Succeeded),
            )
            .count(db)
            .await
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while done().await < TOTAL as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {TOTAL} jobs done in {LIMIT:?}",
            done().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let anything that would run a job twice have its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();

    let jobs = cutroom_entities::job::Entity::find().all(db).await.unwrap();
    assert_eq!(jobs.len(), TOTAL);
    assert!(jobs.iter().all(|j| ids.contains(&j.id)));
    assert!(
        jobs.iter()
            .all(|j| j.status == cutroom_entities::JobStatus::Succeeded && j.attempts == 1),
        "every job succeeded on its first attempt"
    );
    let cutroom_core::db::Pool::Postgres(pool) = &first.app.db.pool else {
        unreachable!("the fleet runs on PostgreSQL")
    };
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = $1")
        .bind(cutroom_core::jobs::PIPELINE_QUEUE)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tasks, TOTAL as i64, "one queue task per job");
    for message in ["queued", "running", "succeeded"] {
        let per_job: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT job_id, count(*) FROM job_events WHERE kind = 'status' AND message = $1 GROUP BY job_id",
        )
        .bind(message)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(per_job.len(), TOTAL, "every job has a {message} event");
        assert!(
            per_job.iter().all(|(_, n)| *n == 1),
            "no job has two {message} events"
        );
    }
    let (status, list) = first.get("/v1/admin/workers", "not-needed").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{list}");
    let workers = cutroom_core::queries::workers::list(
        db,
        chrono::Utc::now() - chrono::Duration::hours(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(workers.len(), 4, "{workers:?}");
    assert_eq!(
        workers.iter().map(|w| w.jobs_succeeded).sum::<i64>(),
        TOTAL as i64,
        "{workers:?}"
    );
}

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

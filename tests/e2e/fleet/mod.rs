//! The fleet: worker processes of their own against one PostgreSQL and one
//! S3-compatible server, killed with SIGKILL mid-job and stopped with
//! SIGTERM. Another worker finishes the job exactly once: one set of
//! outputs, no duplicate rows, no orphaned objects, no scratch left.

mod handing_back;
mod killed_workers;
mod load;
mod postgres_restart;
mod prefetch;
mod queue_at_size;
mod unpack;
mod workers_alone;

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, Store, TestApp, fleet::WorkerProcess};
use reqwest::StatusCode;
use serde_json::Value;

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

/// Every job in `ids` (and no other) succeeded on its first attempt, with
/// one queue task and one `queued`, `running` and `succeeded` event each:
/// nothing lost, nothing run twice.
async fn assert_each_ran_once(app: &TestApp, ids: &std::collections::BTreeSet<uuid::Uuid>) {
    use sea_orm::EntityTrait;
    let jobs = cutroom_entities::job::Entity::find()
        .all(&app.app.db.orm)
        .await
        .unwrap();
    assert_eq!(jobs.len(), ids.len());
    assert!(jobs.iter().all(|j| ids.contains(&j.id)));
    let again: Vec<_> = jobs
        .iter()
        .filter(|j| j.status != cutroom_entities::JobStatus::Succeeded || j.attempts != 1)
        .map(|j| (j.id, j.status, j.attempts))
        .collect();
    assert!(
        again.is_empty(),
        "every job succeeded on its first attempt: {again:?}"
    );
    let cutroom_core::db::Pool::Postgres(pool) = &app.app.db.pool else {
        unreachable!("the fleet runs on PostgreSQL")
    };
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = $1")
        .bind(cutroom_core::jobs::PIPELINE_QUEUE)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tasks, ids.len() as i64, "one queue task per job");
    for message in ["queued", "running", "succeeded"] {
        let per_job: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
            "SELECT job_id, count(*) FROM job_events WHERE kind = 'status' AND message = $1 GROUP BY job_id",
        )
        .bind(message)
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(per_job.len(), ids.len(), "every job has a {message} event");
        assert!(
            per_job.iter().all(|(_, n)| *n == 1),
            "no job has two {message} events"
        );
    }
}

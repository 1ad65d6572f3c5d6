//! The queue at fleet size, the short version: worker processes of their
//! own, with no stages, on a PostgreSQL server of the test's own. The full
//! measurement (8 to 64 processes, claims per second, pickup, the
//! database's CPU and connections) is `cargo bench -p cutroom-tests
//! --bench queue_fleet`.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use cutroom_tests::{Db, PostgresServer, TestApp, email, fleet::WorkerProcess};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{LIMIT, WORKER};

/// Eight worker processes drain 500 jobs that five clients submit while
/// they run: each job runs exactly once, every process takes part, and
/// every process stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_worker_processes_run_five_hundred_jobs_exactly_once() {
    const WORKERS: usize = 8;
    const CLIENTS: usize = 5;
    const JOBS_EACH: usize = 100;
    let pg = PostgresServer::start();
    let app = TestApp::builder(Db::Postgres)
        .database(pg.url.clone())
        .without_worker()
        // Enough of each tenant's jobs in the queue for every worker.
        .configure(|c| c.tenant_max_running = 50)
        .start()
        .await;
    let mut workers: Vec<WorkerProcess> = (0..WORKERS)
        .map(|_| WorkerProcess::spawn_without_stages(WORKER, &app, &[]))
        .collect();
    let orm = app.app.db.orm.clone();
    let registered = || async {
        cutroom_core::queries::workers::list(
            &orm,
            chrono::Utc::now() - chrono::Duration::hours(1),
            100,
        )
        .await
        .unwrap()
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while registered().await.len() < WORKERS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the workers did not start: {}",
            workers[0].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut tokens = Vec::new();
    for c in 0..CLIENTS {
        tokens.push(
            app.signup(&email(&format!("fleet{c}")), "Fleet")
                .await
                .access_token,
        );
    }
    let app = Arc::new(app);
    let clients: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(JOBS_EACH);
                for n in 0..JOBS_EACH {
                    let (status, job) = app
                        .post(
                            "/v1/jobs",
                            &token,
                            json!({"source": {"type": "youtube", "url": format!("https://youtu.be/dQw4w9WgX{:02}", n % 100)}}),
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
    assert_eq!(ids.len(), CLIENTS * JOBS_EACH);

    let succeeded = || async {
        cutroom_entities::job::Entity::find()
            .filter(
                cutroom_entities::job::Column::Status.eq(cutroom_entities::JobStatus::Succeeded),
            )
            .count(&app.app.db.orm)
            .await
            .unwrap()
    };
    while succeeded().await < ids.len() as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} jobs done in {LIMIT:?}; a worker's log:\n{}",
            succeeded().await,
            ids.len(),
            workers[0].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let anything that would run a job twice have its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;
    super::assert_each_ran_once(&app, &ids).await;

    let list = registered().await;
    assert_eq!(list.len(), WORKERS, "{list:?}");
    assert_eq!(
        list.iter().map(|w| w.jobs_succeeded).sum::<i64>(),
        ids.len() as i64,
        "{list:?}"
    );
    assert!(
        list.iter().all(|w| w.jobs_succeeded > 0),
        "every process took jobs: {list:?}"
    );
    for w in &mut workers {
        assert!(
            w.terminate(Duration::from_secs(30)).await,
            "a worker did not stop cleanly: {}",
            w.log_tail()
        );
    }
}

/// A notification that arrives while the worker is still fetching is not
/// lost. With the fallback poll an hour away and heartbeats (which also
/// wake an idle worker) 30 s apart, only notifications can wake the worker
/// within the 10 s each job is given, and each job is submitted the moment
/// the previous one ends, while the worker acknowledges it and looks for
/// the next. With the old wake-up (apalis-postgres's pubsub) about one job
/// in 25 waited for the next heartbeat; every job must start without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_while_the_worker_fetches_is_not_missed() {
    const JOBS: usize = 150;
    let app = TestApp::builder(Db::Postgres)
        .without_worker()
        .configure(|c| {
            c.queue_poll = Some(Duration::from_secs(3600));
            c.worker_heartbeat = Duration::from_secs(30);
        })
        .start()
        .await;
    let s = app.signup(&email("wake"), "Wake").await;
    let tenant: Uuid = s.tenant_id.parse().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = cutroom_worker::Worker::new(
        app.app.config.clone(),
        app.app.db.clone(),
        app.app.store.clone(),
    )
    .without_stages();
    tokio::spawn(worker.run(stop.clone()));
    for n in 0..JOBS {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
        // A pickup takes milliseconds; past 10 s the worker is waiting
        // for its heartbeat, not working.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let j = cutroom_core::queries::jobs::get(&app.app.db.orm, tenant, id)
                .await
                .unwrap()
                .unwrap();
            if j.status.is_terminal() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {n} of {JOBS} was never picked up: its notification was lost"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    stop.cancel();
}

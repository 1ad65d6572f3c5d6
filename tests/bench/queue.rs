//! Queue benchmark: how long a job waits between `POST /v1/jobs` and a
//! worker starting it, and how many jobs per second the queue machinery
//! moves when the pipeline does no real work (`Worker::without_stages`:
//! pickup, claim, events and the terminal state, no fetch or decode).
//!
//! `cargo bench -p cutroom-tests --bench queue` (needs what
//! `bash .ci/setup --test` installs). Prints a Markdown table.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use cutroom_entities::{JobStatus, job};
use cutroom_tests::{Db, TestApp, email};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const LATENCY_JOBS: usize = 200;
const THROUGHPUT_JOBS: usize = 500;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| database | pickup p50 | pickup p99 | pickup max | jobs/s, 1 worker | jobs/s, 2 workers | jobs/s, 4 workers | API p50 / p99 under the 4-worker drain |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for db in [Db::Postgres, Db::Sqlite] {
        rt.block_on(async {
            let (p50, p99, max) = pickup_latency(db).await;
            let (one, _) = throughput(db, 1).await;
            let (two, _) = throughput(db, 2).await;
            let (four, api) = throughput(db, 4).await;
            println!(
                "| {db:?} | {:.1} ms | {:.1} ms | {:.1} ms | {one:.0} | {two:.0} | {four:.0} | {:.1} / {:.1} ms |",
                ms(p50),
                ms(p99),
                ms(max),
                ms(api.0),
                ms(api.1),
            );
        });
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn start_workers(app: &TestApp, n: usize) -> CancellationToken {
    let stop = CancellationToken::new();
    for _ in 0..n {
        let w = cutroom_worker::Worker::new(
            app.app.config.clone(),
            app.app.db.clone(),
            app.app.store.clone(),
        )
        .without_stages();
        tokio::spawn(w.run(stop.clone()));
    }
    stop
}

async fn submit(app: &TestApp, token: &str) -> uuid::Uuid {
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert!(status.is_success(), "{job}");
    job["id"].as_str().unwrap().parse().unwrap()
}

/// One job at a time into an idle worker: `started_at - created_at` as the
/// database recorded them (the API stamps `created_at` before the insert).
async fn pickup_latency(db: Db) -> (Duration, Duration, Duration) {
    let app = TestApp::builder(db).without_worker().start().await;
    let s = app.signup(&email("bench"), "Bench").await;
    let stop = start_workers(&app, 1);
    let tenant: uuid::Uuid = s.tenant_id.parse().unwrap();
    let mut waits = Vec::with_capacity(LATENCY_JOBS);
    for _ in 0..LATENCY_JOBS {
        let id = submit(&app, &s.access_token).await;
        let job = loop {
            let j = cutroom_core::queries::jobs::get(&app.app.db.orm, tenant, id)
                .await
                .unwrap()
                .unwrap();
            if j.status.is_terminal() {
                break j;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let started = job.started_at.expect("the worker stamped started_at");
        waits.push((started - job.created_at).to_std().unwrap_or_default());
    }
    stop.cancel();
    waits.sort();
    let pct = |p: f64| waits[((waits.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    (pct(0.50), pct(0.99), *waits.last().unwrap())
}

/// A backlog of jobs of five tenants drained by `workers` workers: jobs
/// per second from the workers' start until the last job is terminal,
/// and the p50 and p99 of `GET /v1/jobs/{id}` answered meanwhile (one
/// client asking again as soon as it has an answer).
async fn throughput(db: Db, workers: usize) -> (f64, (Duration, Duration)) {
    const TENANTS: usize = 5;
    let app = TestApp::builder(db).without_worker().start().await;
    let mut tokens = Vec::new();
    for t in 0..TENANTS {
        tokens.push(
            app.signup(&email(&format!("bench{t}")), "Bench")
                .await
                .access_token,
        );
    }
    let mut last = None;
    for n in 0..THROUGHPUT_JOBS {
        last = Some(submit(&app, &tokens[n % TENANTS]).await);
    }
    let watched = last.expect("jobs were submitted");
    let started = Instant::now();
    let stop = start_workers(&app, workers);
    let mut api = Vec::new();
    loop {
        let asked = Instant::now();
        let (status, _) = app
            .get(
                &format!("/v1/jobs/{watched}"),
                &tokens[(THROUGHPUT_JOBS - 1) % TENANTS],
            )
            .await;
        assert!(status.is_success());
        api.push(asked.elapsed());
        let open = job::Entity::find()
            .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .count(&app.app.db.orm)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();
    stop.cancel();
    api.sort();
    let pct = |p: f64| api[((api.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    (
        THROUGHPUT_JOBS as f64 / elapsed.as_secs_f64(),
        (pct(0.50), pct(0.99)),
    )
}

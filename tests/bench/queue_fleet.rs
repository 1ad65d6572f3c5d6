//! The queue at fleet size: 8, 16, 32 and 64 worker processes of their
//! own (`cutroom worker`'s run mode with no stages: pickup, claim, events,
//! terminal state, registry, housekeeping; no fetch or decode) against one
//! PostgreSQL server started for each round, with PostgreSQL's durable
//! defaults (fsync on) and room for the connections.
//!
//! Each round measures
//! - *pickup* at light load: jobs submitted through `POST /v1/jobs` at a
//!   steady 20 a second into idle workers; the wait is `started_at -
//!   created_at` as stored in the job row;
//! - *drain*: the workers are stopped (SIGSTOP), a backlog is submitted,
//!   then they are let go (SIGCONT); jobs per second until the last is
//!   terminal, the CPU the database and the workers used meanwhile, and
//!   the most client connections the database held;
//! - *lost or run twice*: jobs not succeeded, or run more than once (an
//!   attempt over 1, or a second `running` event).
//!
//! Then four workers side by side with the peer queue of the seeds' Python
//! stack, Celery with Redis (`tests/bench/peer/celery_noop.py`, installed
//! by `bash .ci/queue-peer`; `CUTROOM_BENCH_NO_PEER=1` skips it): the same
//! drain, and pickup at 200 jobs a second.
//!
//! `cargo bench -p cutroom-tests --bench queue_fleet` (needs `bash
//! .ci/setup --test`). `CUTROOM_BENCH_WORKERS=8,16` and
//! `CUTROOM_BENCH_JOBS=2000` change the rounds. Prints a Markdown table.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cutroom_tests::{Db, PostgresServer, TestApp, email, fleet::WorkerProcess};
use serde_json::json;
use sqlx::PgPool;

const WORKER: &str = env!("CARGO_BIN_EXE_cutroom-fleet-worker");
const TENANTS: usize = 5;
const CLIENTS: usize = 8;

fn main() {
    let sizes: Vec<usize> = std::env::var("CUTROOM_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![8, 16, 32, 64]);
    let jobs: usize = std::env::var("CUTROOM_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| worker processes | pickup at 20 jobs/s: p50 | p99 | max | drain of {jobs}: jobs/s | database CPU (cores) | worker CPU per job | peak connections | lost / run twice |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let r = rt.block_on(round(n, jobs, Pace::LIGHT));
        println!(
            "| {n} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.2} | {:.2} ms | {} | {} / {} |",
            ms(r.pickup.0),
            ms(r.pickup.1),
            ms(r.pickup.2),
            r.jobs_per_second,
            r.db_cores,
            ms(r.worker_cpu_per_job),
            r.peak_connections,
            r.lost,
            r.twice,
        );
    }
    if std::env::var_os("CUTROOM_BENCH_NO_PEER").is_none() {
        peer(&rt, jobs);
    }
}

/// Four single-affinity workers, Cutroom's and Celery's, one after the
/// other in this run: the drain, and pickup at 200 jobs a second.
fn peer(rt: &tokio::runtime::Runtime, jobs: usize) {
    const WORKERS: usize = 4;
    let python =
        std::env::var("CUTROOM_BENCH_PEER_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peer/celery_noop.py");
    println!();
    println!(
        "| {WORKERS} workers | drain of {jobs}: jobs/s | pickup at {:.0} jobs/s: p50 | p99 | max |",
        Pace::HEAVY.rate()
    );
    println!("|---|---|---|---|---|");
    let r = rt.block_on(round(WORKERS, jobs, Pace::HEAVY));
    println!(
        "| Cutroom (PostgreSQL, fsync on) | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms |",
        r.jobs_per_second,
        ms(r.pickup.0),
        ms(r.pickup.1),
        ms(r.pickup.2)
    );
    let out = std::process::Command::new(&python)
        .arg(script)
        .args(["--workers", &WORKERS.to_string()])
        .args(["--jobs", &jobs.to_string()])
        .args(["--paced", &Pace::HEAVY.jobs.to_string()])
        .args(["--rate", &Pace::HEAVY.rate().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (run `bash .ci/queue-peer`)"));
    assert!(
        out.status.success(),
        "the Celery peer failed (run `bash .ci/queue-peer`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peer: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the peer prints one JSON object");
    println!(
        "| Celery 5 + Redis (prefork, concurrency 1, acks_late) | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms |",
        peer["jobs_per_second"].as_f64().unwrap_or_default(),
        peer["pickup_p50_ms"].as_f64().unwrap_or_default(),
        peer["pickup_p99_ms"].as_f64().unwrap_or_default(),
        peer["pickup_max_ms"].as_f64().unwrap_or_default(),
    );
}

/// How pickup is measured: `jobs` submissions `every` apart.
#[derive(Clone, Copy)]
struct Pace {
    jobs: usize,
    every: Duration,
}

impl Pace {
    const LIGHT: Pace = Pace {
        jobs: 200,
        every: Duration::from_millis(50),
    };
    const HEAVY: Pace = Pace {
        jobs: 1000,
        every: Duration::from_millis(5),
    };

    fn rate(self) -> f64 {
        1.0 / self.every.as_secs_f64()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Round {
    pickup: (Duration, Duration, Duration),
    jobs_per_second: f64,
    db_cores: f64,
    worker_cpu_per_job: Duration,
    peak_connections: i64,
    lost: i64,
    twice: i64,
}

async fn round(workers: usize, jobs: usize, pace: Pace) -> Round {
    let pg = PostgresServer::start_with(&format!(
        "-c max_connections={} -c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements",
        workers * 8 + 100
    ));
    let app = TestApp::builder(Db::Postgres)
        .database(pg.url.clone())
        .without_worker()
        .configure(|c| {
            c.tenant_max_running = 10_000;
            c.rate_limit_per_minute = 1_000_000;
        })
        .start()
        .await;
    let cutroom_core::db::Pool::Postgres(pool) = app.app.db.pool.clone() else {
        unreachable!("a PostgreSQL round")
    };
    let procs: Vec<WorkerProcess> = (0..workers)
        .map(|_| WorkerProcess::spawn_without_stages(WORKER, &app, &[]))
        .collect();
    wait_registered(&app, workers).await;
    let mut tokens = Vec::new();
    for t in 0..TENANTS {
        tokens.push(
            app.signup(&email(&format!("fleet{t}")), "Fleet")
                .await
                .access_token,
        );
    }
    let app = Arc::new(app);

    // Pickup into idle workers at a steady rate.
    let mut tick = tokio::time::interval(pace.every);
    let mut sent = Vec::new();
    for n in 0..pace.jobs {
        tick.tick().await;
        let (app, token) = (app.clone(), tokens[n % TENANTS].clone());
        sent.push(tokio::spawn(async move { submit(&app, &token).await }));
    }
    for s in sent {
        s.await.unwrap();
    }
    wait_drained(&pool).await;
    let mut waits: Vec<Duration> = sqlx::query_scalar::<_, f64>(
        "SELECT EXTRACT(EPOCH FROM started_at - created_at)::float8 FROM processing_jobs",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .map(|s| Duration::from_secs_f64(s.max(0.0)))
    .collect();
    waits.sort();
    let pct = |p: f64| waits[((waits.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    let pickup = (pct(0.50), pct(0.99), *waits.last().unwrap());

    // Drain: a backlog under stopped workers, then let go.
    for p in &procs {
        p.pause();
    }
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (app, tokens) = (app.clone(), tokens.clone());
            tokio::spawn(async move {
                for n in (c..jobs).step_by(CLIENTS) {
                    submit(&app, &tokens[n % TENANTS]).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&pool)
        .await
        .unwrap();
    let db_before = pg.cpu_time();
    let workers_before: Duration = procs.iter().map(WorkerProcess::cpu_time).sum();
    let started = Instant::now();
    for p in &procs {
        p.resume();
    }
    let peak_connections = wait_drained(&pool).await;
    let elapsed = started.elapsed();
    let db_cores = (pg.cpu_time() - db_before).as_secs_f64() / elapsed.as_secs_f64();
    let worker_cpu: Duration =
        procs.iter().map(WorkerProcess::cpu_time).sum::<Duration>() - workers_before;
    if std::env::var_os("CUTROOM_BENCH_STATEMENTS").is_some() {
        statements(&pool, jobs).await;
    }

    // Let anything that would run a job twice have its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lost: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processing_jobs WHERE status <> 'succeeded'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processing_jobs j WHERE j.attempts > 1 OR (SELECT count(*) FROM job_events e \
         WHERE e.job_id = j.id AND e.kind = 'status' AND e.message = 'running') > 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut procs = procs;
    for p in &mut procs {
        p.terminate(Duration::from_secs(30)).await;
    }
    Round {
        pickup,
        jobs_per_second: jobs as f64 / elapsed.as_secs_f64(),
        db_cores,
        worker_cpu_per_job: worker_cpu / u32::try_from(jobs).unwrap_or(u32::MAX),
        peak_connections,
        lost,
        twice,
    }
}

async fn submit(app: &TestApp, token: &str) {
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert!(status.is_success(), "{job}");
}

async fn wait_registered(app: &TestApp, workers: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = cutroom_core::queries::workers::list(
            &app.app.db.orm,
            chrono::Utc::now() - chrono::Duration::hours(1),
            1000,
        )
        .await
        .unwrap();
        if list.len() >= workers {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {workers} workers started",
            list.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no job is queued or running; returns the most client
/// connections the server held meanwhile.
async fn wait_drained(pool: &PgPool) -> i64 {
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let (open, connections): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM processing_jobs WHERE status IN ('queued', 'running')), \
             (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        peak = peak.max(connections);
        if open == 0 {
            return peak;
        }
        assert!(Instant::now() < deadline, "{open} jobs still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the database ran during the drain, per job: each statement's calls
/// and execution time, the costliest first (`CUTROOM_BENCH_STATEMENTS=1`;
/// to stderr, beside the table).
async fn statements(pool: &PgPool, jobs: usize) {
    let rows: Vec<(i64, f64, String)> = sqlx::query_as(
        "SELECT calls, total_exec_time, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY total_exec_time DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let (calls, ms): (i64, f64) = rows.iter().fold((0, 0.0), |(c, t), r| (c + r.0, t + r.1));
    eprintln!(
        "statements per job: {:.1}, execution time per job: {:.3} ms",
        calls as f64 / jobs as f64,
        ms / jobs as f64
    );
    for (calls, ms, query) in rows.iter().take(20) {
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!(
            "  {:>5.2} calls/job {:>7.3} ms/job  {}",
            *calls as f64 / jobs as f64,
            ms / jobs as f64,
            query.chars().take(140).collect::<String>()
        );
    }
}

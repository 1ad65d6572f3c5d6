//! Prefetch: a batch of short sources that download slowly (about 80 KB/s
//! from a loopback host, as a busy video host serves them) through one
//! worker, with `CUTROOM_WORKER_PREFETCH` 0 and 1, alternating, in one
//! run. With 1 the next job downloads while the current one computes.
//!
//! `cargo bench -p cutroom-tests --bench prefetch` (needs what `bash
//! .ci/setup --test` and `bash .ci/models` install). Prints a Markdown
//! table: the batch's wall clock (first submission to last job ended) and
//! the worker's share of it spent waiting for downloads.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use cutroom_tests::{Db, SourceServer, TestApp, email, media};
use serde_json::json;

const SOURCES: usize = 8;
const ROUNDS: usize = 2;

const LINES: [&str; SOURCES] = [
    "Short clips arrive all day, and each one is downloaded before it is heard.",
    "A worker that waits for the network is a worker that is not transcribing.",
    "The tide pool looked empty until a crab stepped out from under the weed.",
    "Measure the board twice, then cut it once, and sand every edge smooth.",
    "The river rose two metres overnight and the bridge was closed by noon.",
    "Bring a warm coat: the summit is windy even when the valley is calm.",
    "Every recording is fetched once into scratch space and decoded once.",
    "The next talk starts at ten, in the small room at the end of the hall.",
];

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let source = SourceServer::start().await;
    let mut bytes = 0;
    for (n, line) in LINES.iter().enumerate() {
        let path = source.path(&format!("clip{n}.mp4"));
        media::spoken(&path, &format!("{line} {line}"));
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    eprintln!(
        "{SOURCES} sources, {:.0} KB on average",
        bytes as f64 / SOURCES as f64 / 1000.0
    );
    println!(
        "| prefetch | round | batch of {SOURCES}: wall clock | per job | worker idle on downloads |"
    );
    println!("|---|---|---|---|---|");
    for round in 1..=ROUNDS {
        for prefetch in [0u8, 1] {
            let (wall, fetch_wait) = batch(&source, prefetch).await;
            println!(
                "| {prefetch} | {round} | {:.1} s | {:.2} s | {:.1} s |",
                wall.as_secs_f64(),
                wall.as_secs_f64() / SOURCES as f64,
                fetch_wait.as_secs_f64(),
            );
        }
    }
}

/// Runs the batch; returns its wall clock and the time the worker had no
/// job computing because the next one was still downloading.
async fn batch(source: &SourceServer, prefetch: u8) -> (Duration, Duration) {
    let app = TestApp::builder(Db::Postgres)
        .allow_source(source)
        .without_worker()
        .configure(move |c| {
            c.worker_prefetch = prefetch;
            c.tenant_max_running = 100;
        })
        .start()
        .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = cutroom_worker::Worker::new(
        app.app.config.clone(),
        app.app.db.clone(),
        app.app.store.clone(),
    );
    let running = tokio::spawn(worker.run(stop.clone()));
    // Models loaded and the worker registered before the clock starts.
    wait_registered(&app).await;
    let s = app.signup(&email("prefetch"), "Prefetch").await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..SOURCES {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": source.url(&format!("slow/clip{n}.mp4"))}}),
            )
            .await;
        assert!(status.is_success(), "{job}");
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let job = app
            .wait_for_job(&s.access_token, id, Duration::from_secs(900))
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let wall = started.elapsed();
    // The worker computed from each job's fetch end to its finish; the
    // rest of the wall clock it spent waiting for a download.
    let cutroom_core::db::Pool::Postgres(pool) = &app.app.db.pool else {
        unreachable!()
    };
    let computing: f64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(EXTRACT(EPOCH FROM j.finished_at - e.created_at)), 0)::float8 \
         FROM processing_jobs j JOIN job_events e ON e.job_id = j.id \
         WHERE e.kind = 'stage_started' AND e.stage = 'probe'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    stop.cancel();
    let _ = running.await;
    (
        wall,
        wall.saturating_sub(Duration::from_secs_f64(computing.max(0.0))),
    )
}

async fn wait_registered(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while cutroom_core::queries::workers::list(
        &app.app.db.orm,
        chrono::Utc::now() - chrono::Duration::hours(1),
        10,
    )
    .await
    .unwrap()
    .is_empty()
    {
        assert!(Instant::now() < deadline, "the worker did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

//! Fleet benchmark: how long a job whose worker was killed (SIGKILL, mid
//! download) waits before another worker starts it over, at two heartbeat
//! settings. A second, idle worker process is already running when the
//! first is killed, as in a fleet.
//!
//! `cargo bench -p cutroom-tests --bench fleet` (needs what
//! `bash .ci/setup --test` and `bash .ci/models` install). Prints a
//! Markdown table.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use cutroom_tests::{Db, SourceServer, TestApp, email, fleet::WorkerProcess, media};
use serde_json::json;

const WORKER: &str = env!("CARGO_BIN_EXE_cutroom-fleet-worker");
const RUNS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| heartbeat | presumed dead after | kill to restart: min | median | max |");
    println!("|---|---|---|---|---|");
    for heartbeat in [2, 10] {
        let mut waits = rt.block_on(pickup_after_kill(Duration::from_secs(heartbeat)));
        waits.sort();
        println!(
            "| {heartbeat} s | {} s | {:.1} s | {:.1} s | {:.1} s |",
            heartbeat * 3,
            waits[0].as_secs_f64(),
            waits[waits.len() / 2].as_secs_f64(),
            waits[waits.len() - 1].as_secs_f64(),
        );
    }
}

async fn pickup_after_kill(heartbeat: Duration) -> Vec<Duration> {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "A worker dies while it downloads this.",
    );
    source.set_slow(true);
    let app = TestApp::builder(Db::Postgres)
        .without_worker()
        .allow_source(&source)
        .configure(move |c| {
            c.worker_heartbeat = heartbeat;
            c.retries.max_attempts = 10;
        })
        .start()
        .await;
    let s = app.signup(&email("fleet-bench"), "Fleet bench").await;
    let mut waits = Vec::new();
    let mut current = WorkerProcess::spawn(WORKER, &app);
    for _ in 0..RUNS {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": source.url("flaky/talk.mp4")}}),
            )
            .await;
        assert!(status.is_success(), "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        wait(&app, &s.access_token, &id, |j| {
            j["status"] == "running" && j["stage"] == "fetch" && j["attempts"] == 1
        })
        .await;
        // The idle worker that will take the job over, ready before the kill.
        let next = WorkerProcess::spawn(WORKER, &app);
        tokio::time::sleep(Duration::from_secs(5)).await;
        current.kill();
        let killed = Instant::now();
        wait(&app, &s.access_token, &id, |j| j["attempts"] == 2).await;
        waits.push(killed.elapsed());
        // Let the job finish at full speed, then go again with the survivor.
        source.set_slow(false);
        wait(&app, &s.access_token, &id, |j| j["status"] == "succeeded").await;
        source.set_slow(true);
        current = next;
    }
    waits
}

async fn wait(app: &TestApp, token: &str, id: &str, ready: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, job) = app.get(&format!("/v1/jobs/{id}"), token).await;
        if ready(&job) {
            return;
        }
        assert!(Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

//! Webhook benchmark: how long from a job event being written to the
//! first attempt reaching the receiver, with the production poll interval
//! (250 ms), one event at a time and in a burst of jobs submitted by
//! concurrent clients.
//!
//! `cargo bench -p cutroom-tests --bench webhooks` (needs what
//! `bash .ci/setup --test` installs). Prints a Markdown table.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use cutroom_tests::{Db, TestApp, email, webhooks::Receiver};
use serde_json::json;

const SPACED: usize = 100;
const BURST: usize = 500;
const CLIENTS: usize = 10;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| database | one at a time: p50 | p99 | burst of {BURST} from {CLIENTS} clients: p50 | p99 | max | messages/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for db in [Db::Postgres, Db::Sqlite] {
        rt.block_on(async {
            let spaced = run(db, SPACED, 1, Some(Duration::from_millis(100))).await;
            let burst = run(db, BURST, CLIENTS, None).await;
            println!(
                "| {db:?} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} |",
                pct(&spaced.latencies, 0.5),
                pct(&spaced.latencies, 0.99),
                pct(&burst.latencies, 0.5),
                pct(&burst.latencies, 0.99),
                pct(&burst.latencies, 1.0),
                burst.rate
            );
        });
    }
}

struct Outcome {
    /// Event to first attempt, milliseconds, sorted.
    latencies: Vec<f64>,
    /// Messages received per second, first event to last arrival.
    rate: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `jobs` jobs submitted by `clients` concurrent clients (each waiting
/// `gap` between its jobs); every job.created message is timed.
async fn run(db: Db, jobs: usize, clients: usize, gap: Option<Duration>) -> Outcome {
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::builder(db)
        .without_worker()
        .configure({
            let addr = receiver.addr.clone();
            move |c| {
                c.webhooks.private_hosts.insert(addr);
            }
        })
        .start()
        .await;
    let s = app.signup(&email("bench"), "Bench").await;
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &s.access_token,
            json!({"url": receiver.url(), "events": ["job.created"]}),
        )
        .await;
    assert!(status.is_success(), "{hook}");

    let started = Utc::now();
    let per_client = jobs / clients;
    let submitters = (0..clients).map(|_| {
        let (app, token) = (&app, s.access_token.clone());
        async move {
            for _ in 0..per_client {
                let (status, job) = app
                    .post(
                        "/v1/jobs",
                        &token,
                        json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
                    )
                    .await;
                assert!(status.is_success(), "{job}");
                if let Some(g) = gap {
                    tokio::time::sleep(g).await;
                }
            }
        }
    });
    futures::future::join_all(submitters).await;
    let got = receiver.wait_for(per_client * clients).await;
    let mut latencies: Vec<f64> = got
        .iter()
        .map(|r| {
            let sent: DateTime<Utc> = r.json()["timestamp"].as_str().unwrap().parse().unwrap();
            (r.received_at - sent).num_microseconds().unwrap() as f64 / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let last = got.iter().map(|r| r.received_at).max().unwrap();
    let rate = got.len() as f64 / (last - started).num_milliseconds().max(1) as f64 * 1000.0;
    Outcome { latencies, rate }
}

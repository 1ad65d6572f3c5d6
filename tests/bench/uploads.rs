//! Upload benchmark: the same file sent to storage in one presigned PUT
//! and in presigned parts (three at a time, as the web app sends them),
//! then completed (for parts: put together by storage), side by side in
//! one run, on the local store (served by the API) and on the
//! S3-compatible test server. Everything is on loopback: the numbers are
//! what the servers and the assembly cost, not a network's.
//!
//! Prints MB/s for each, with the completion's share.
//!
//! `cargo bench -p cutroom-tests --bench uploads` (needs the S3 test
//! server that `bash .ci/setup --test` builds). Run it on an idle machine.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use cutroom_tests::{Db, Store, TestApp, email};
use futures::StreamExt;
use serde_json::{Value, json};

/// Bytes sent each time: 512 MiB.
const SIZE: usize = 512 << 20;
/// Part size: the default (`CUTROOM_UPLOAD_PART_BYTES`).
const PART: u64 = 64 << 20;
/// Parts in flight at once, as the web app sends them.
const PARALLEL: usize = 3;
/// Each measured this many times; the best is reported.
const ROUNDS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let file = cutroom_tests::noise(SIZE);
    println!(
        "upload of {} MiB, best of {ROUNDS}, parts of {} MiB, {PARALLEL} at a time",
        SIZE >> 20,
        PART >> 20
    );
    for store in [Store::Local, Store::S3] {
        let app = TestApp::builder(Db::Sqlite)
            .store(store)
            .without_worker()
            .configure(|c| {
                c.upload_part_size = PART;
                c.max_upload_bytes = SIZE as u64 * 2;
            })
            .start()
            .await;
        let s = app.signup(&email("bench"), "Bench").await;
        let name = match store {
            Store::Local => "local store",
            Store::S3 => "S3 (s3s-fs)",
        };
        let mut one = Vec::new();
        let mut parts = Vec::new();
        for _ in 0..ROUNDS {
            one.push(upload(&app, &s.access_token, &file, false).await);
            parts.push(upload(&app, &s.access_token, &file, true).await);
        }
        report(name, "one PUT", &one);
        report(name, "parts", &parts);
    }
}

/// The best round: (sending, completing).
fn report(store: &str, how: &str, rounds: &[(Duration, Duration)]) {
    let best = rounds
        .iter()
        .min_by_key(|(send, done)| *send + *done)
        .unwrap();
    let total = best.0 + best.1;
    let mb = SIZE as f64 / 1e6;
    println!(
        "{store:12} {how:8} {:7.1} MB/s  (send {:.2} s, complete {:.2} s)",
        mb / total.as_secs_f64(),
        best.0.as_secs_f64(),
        best.1.as_secs_f64()
    );
}

/// Sends `file` as a new upload and completes it; returns how long
/// sending and completing took.
async fn upload(app: &TestApp, token: &str, file: &[u8], multipart: bool) -> (Duration, Duration) {
    let (status, up) = app
        .post(
            "/v1/uploads",
            token,
            json!({"filename": "bench.mp4", "content_type": "video/mp4",
                   "size_bytes": file.len(), "multipart": multipart}),
        )
        .await;
    assert!(status.is_success(), "{up}");
    let id = up["upload_id"].as_str().unwrap();
    let started = Instant::now();
    let body = if multipart {
        let part_size = up["multipart"]["part_size"].as_u64().unwrap() as usize;
        let sent: Vec<(u64, String)> =
            futures::stream::iter(up["multipart"]["parts"].as_array().unwrap())
                .map(|p| async move {
                    let n = p["part_number"].as_u64().unwrap();
                    let start = (n as usize - 1) * part_size;
                    let end = (start + part_size).min(file.len());
                    let (status, etag) = app.put_part(p, file[start..end].to_vec()).await;
                    assert!(status.is_success(), "part {n}: {status}");
                    (n, etag.unwrap())
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        let mut parts: Vec<Value> = sent
            .into_iter()
            .map(|(n, etag)| json!({"part_number": n, "etag": etag}))
            .collect();
        parts.sort_by_key(|p| p["part_number"].as_u64());
        json!({"parts": parts})
    } else {
        assert!(app.put_presigned(&up, file.to_vec()).await.is_success());
        json!({})
    };
    let sent = started.elapsed();
    let (status, job) = app
        .post(&format!("/v1/uploads/{id}/complete"), token, body)
        .await;
    assert!(status.is_success(), "{job}");
    (sent, started.elapsed() - sent)
}

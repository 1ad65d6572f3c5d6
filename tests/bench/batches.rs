//! Batch benchmark: an archive of `FILES` MP3s of real speech (LibriVox
//! readings from `pocketsphinx-testdata`, looped to about 4 MB each, the
//! seed's file size), uploaded and run by one in-process worker with the
//! default models (tiny.en) and no clips, as the seed's pipeline runs:
//! transcribe, classify, keep as Opus.
//!
//! Prints: the unpack job's rate (archive MB/s and files/hour: download
//! from storage, checks, storing each recording, creating its child), the
//! audio stage's (decode once, Opus encode, Opus decoded again for the
//! integrity check), each stage's mean per file, and the whole batch's
//! files/hour per worker with the projection against the seed's 5,000 to
//! 7,500 files a day.
//!
//! `cargo bench -p cutroom-tests --bench batches` (needs what
//! `bash .ci/setup --test` and `bash .ci/models` install). Run it on an
//! idle machine.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::{collections::BTreeMap, path::Path, time::Duration};

use chrono::{DateTime, Utc};
use cutroom_tests::{Db, TestApp, archive::tar_gz, email, media};
use serde_json::{Value, json};

/// Recordings in the archive.
const FILES: usize = 12;
/// Seconds of each: 4 MB of 128 kbit/s MP3.
const SECONDS: u32 = 250;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// `SECONDS` of LibriVox speech, looped, as 44.1 kHz mono 128 kbit/s MP3.
fn speech_mp3(dir: &Path) -> Vec<u8> {
    let librivox = Path::new("/usr/share/pocketsphinx/test/data/librivox");
    let mut wavs: Vec<_> = std::fs::read_dir(librivox)
        .expect("pocketsphinx-testdata (bash .ci/setup --test)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    let list = dir.join("list.txt");
    let lines: String = wavs
        .iter()
        .map(|w| format!("file '{}'\n", w.display()))
        .collect();
    std::fs::write(&list, lines).unwrap();
    let out = dir.join("speech.mp3");
    media::ffmpeg(&[
        "-y",
        "-loglevel",
        "error",
        "-stream_loop",
        "-1",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list.to_str().unwrap(),
        "-t",
        &SECONDS.to_string(),
        "-ac",
        "1",
        "-ar",
        "44100",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        out.to_str().unwrap(),
    ]);
    std::fs::read(out).unwrap()
}

fn at(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let mp3 = speech_mp3(dir.path());
    let entries: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|i| (format!("recordings/audio{i:03}.mp3"), mp3.clone()))
        .collect();
    let archive = tar_gz(&entries);
    let mb = archive.len() as f64 / 1e6;
    eprintln!(
        "{FILES} recordings of {SECONDS} s, {:.1} MB each; archive {mb:.1} MB",
        mp3.len() as f64 / 1e6
    );
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("bench"), "Bench").await;
    let token = s.access_token.as_str();
    let (status, created) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": "bench.tar.gz", "size_bytes": archive.len(),
                   "options": {"job": {"clips": {"count": 0}}}}),
        )
        .await;
    assert!(status.is_success(), "{created}");
    let id = created["batch"]["id"].as_str().unwrap().to_owned();
    assert!(
        app.put_presigned(&created["upload"], archive)
            .await
            .is_success()
    );
    let (status, started) = app
        .post(&format!("/v1/batches/{id}/start"), token, json!({}))
        .await;
    assert!(status.is_success(), "{started}");
    let batch = loop {
        let (_, b) = app.get(&format!("/v1/batches/{id}"), token).await;
        if b["status"] == "completed" || b["status"] == "failed" {
            break b;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["jobs"]["succeeded"], FILES, "{batch}");
    let (_, unpack) = app
        .get(
            &format!("/v1/jobs/{}", batch["unpack_job_id"].as_str().unwrap()),
            token,
        )
        .await;
    let unpack_s = (at(&unpack["finished_at"]) - at(&unpack["started_at"])).as_seconds_f64();
    let whole_s = (at(&batch["finished_at"]) - at(&unpack["started_at"])).as_seconds_f64();
    let mut stages: BTreeMap<String, f64> = BTreeMap::new();
    let (_, page) = app
        .get(&format!("/v1/batches/{id}/jobs?limit=100"), token)
        .await;
    for child in page["items"].as_array().unwrap() {
        let (_, events) = app
            .get(
                &format!("/v1/jobs/{}/events", child["id"].as_str().unwrap()),
                token,
            )
            .await;
        for e in events.as_array().unwrap() {
            if e["kind"] == "stage_completed" {
                *stages
                    .entry(e["stage"].as_str().unwrap().to_owned())
                    .or_default() += e["data"]["elapsed_ms"].as_f64().unwrap() / 1000.0;
            }
        }
    }
    let per_file = |s: f64| s / FILES as f64;
    let audio = per_file(stages.get("audio").copied().unwrap_or_default());
    let files_per_hour = FILES as f64 * 3600.0 / whole_s;
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| unpack job ({mb:.1} MB archive, {FILES} files) | {unpack_s:.1} s: {:.1} MB/s, {:.0} files/hour |",
        mb / unpack_s,
        FILES as f64 * 3600.0 / unpack_s
    );
    println!(
        "| audio stage per file (decode, Opus 32 kbit/s, check) | {audio:.2} s: {:.1} MB/s of MP3, {:.0}x real time |",
        mp3.len() as f64 / 1e6 / audio,
        f64::from(SECONDS) / audio
    );
    for (stage, total) in &stages {
        println!(
            "| stage `{stage}`, mean per file | {:.2} s |",
            per_file(*total)
        );
    }
    println!(
        "| whole batch, one worker | {whole_s:.0} s: {files_per_hour:.0} files/hour, {:.1} audio hours/hour |",
        files_per_hour * f64::from(SECONDS) / 3600.0
    );
    for per_day in [5_000.0, 7_500.0] {
        let workers = per_day / (files_per_hour * 24.0);
        println!(
            "| {per_day:.0} files/day | {workers:.1} workers like this one ({:.0} % of one worker-day each) |",
            100.0 * per_day / (files_per_hour * 24.0) / workers.ceil()
        );
    }
}

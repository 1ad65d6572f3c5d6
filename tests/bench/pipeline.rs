//! Whole-pipeline benchmark: a ten-minute 720p talk submitted as a link,
//! from the worker starting the job to every clip uploaded (the job's
//! `finished_at`), with each stage's own time from the job's events. The
//! first job keeps its source, and its three clips' ranges are then
//! re-rendered twice (`POST /v1/jobs/{id}/clips`): vertical with captions
//! as the job made them, and in the source's shape without captions,
//! which smart rendering can mostly copy.
//!
//! `cargo bench -p cutroom-tests --bench pipeline` (needs what
//! `bash .ci/setup --test` and `bash .ci/models` install). Run it on an
//! idle machine. Prints Markdown tables.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use cutroom_tests::{Db, Session, SourceServer, TestApp, email, media};
use serde_json::{Value, json};

/// Seconds of source.
const LENGTH: u32 = 600;

/// A minute of talk on a few subjects, with pauses, spoken once and looped.
const TALK: &str = "Welcome back to the workshop. Today we are building a bird feeder from \
    scrap wood. <break time=\"900ms\"/> First, measure twice and cut once: the roof panels \
    must be exactly the same length, or the rain gets in. <break time=\"1200ms\"/> Did you \
    know that a single chickadee visits a feeder more than a hundred times a day? \
    <break time=\"700ms\"/> Sand every edge before you glue it. Splinters and small claws \
    do not mix. <break time=\"1500ms\"/> Here is the secret nobody tells you: drill the \
    drainage holes before assembly, never after. <break time=\"800ms\"/> Now let us talk \
    about paint. Use a water based exterior paint, and leave the inside bare wood. \
    <break time=\"1000ms\"/> Finally, hang it at least two metres from any window, so the \
    birds see the glass in time. Thanks for watching, and see you next week.";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// Runs the job for each clip option, re-renders the first job's clips,
/// and prints the tables.
async fn run() {
    let source = SourceServer::start().await;
    let talk = source.path("talk.mp4");
    let made = std::time::Instant::now();
    make_source(&talk);
    eprintln!(
        "made a {LENGTH} s 1280x720 source in {:.0} s",
        made.elapsed().as_secs_f64()
    );

    println!("| clip options | job wall clock | x real time | clips | clip seconds |");
    println!("|---|---|---|---|---|");
    let mut stage_rows = Vec::new();
    let mut rerenders = Vec::new();
    for (label, clips) in [
        ("3 vertical (default)", json!({})),
        (
            "3 x vertical + square + original, tightened",
            json!({"formats": ["vertical", "square", "original"], "tighten": {"enabled": true}}),
        ),
    ] {
        let app = TestApp::builder(Db::Sqlite)
            .allow_source(&source)
            .start()
            .await;
        let s = app.signup(&email("bench"), "Bench").await;
        let (id, wall, items) = run_job(&app, &s, &source, label, clips).await;
        let stages = stage_times(&app, &s, &id).await;
        stage_rows.push((label, wall, stages.clone()));
        if !rerenders.is_empty() || label != "3 vertical (default)" {
            continue;
        }
        let ranges: Vec<serde_json::Value> = items
            .iter()
            .map(|c| json!({"start": c["start"], "end": c["end"]}))
            .collect();
        for (what, patch) in [
            ("3 ranges, vertical, captions (as the job)", json!({})),
            (
                "3 ranges, original, no captions (smart)",
                json!({"formats": ["original"], "captions": {"burn": false}}),
            ),
        ] {
            let (wall, clips_stage, copied, frames) = rerender(&app, &s, &id, &ranges, patch).await;
            rerenders.push((what, wall, clips_stage, copied, frames));
        }
    }
    print_tables(rerenders, stage_rows);
}

/// Submits the talk with `clips` as its clip options, waits for it and
/// prints its row; returns the job id, its wall clock and its clips.
async fn run_job(
    app: &TestApp,
    s: &Session,
    source: &SourceServer,
    label: &str,
    clips: Value,
) -> (String, f64, Vec<Value>) {
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({
                "source": {"type": "youtube", "url": source.url("talk.mp4")},
                "options": {"clips": clips},
                "keep_source_hours": 1
            }),
        )
        .await;
    assert!(status.is_success(), "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app
        .wait_for_job(&s.access_token, &id, Duration::from_secs(3600))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let wall = wall_clock(app, &s.tenant_id, &id).await;
    let (_, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    let items = clips["items"].as_array().unwrap();
    let clip_seconds: f64 = items.iter().map(|c| c["duration"].as_f64().unwrap()).sum();
    println!(
        "| {label} | {wall:.1} s | {:.1} | {} | {clip_seconds:.1} |",
        f64::from(LENGTH) / wall,
        items.len()
    );
    (id, wall, items.clone())
}

/// Each stage's own seconds, from the job's events.
async fn stage_times(app: &TestApp, s: &Session, id: &str) -> Vec<(String, f64)> {
    let (_, events) = app
        .get(&format!("/v1/jobs/{id}/events"), &s.access_token)
        .await;
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "stage_completed")
        .map(|e| {
            (
                e["stage"].as_str().unwrap().to_owned(),
                e["data"]["elapsed_ms"].as_f64().unwrap() / 1000.0,
            )
        })
        .collect()
}

/// Re-renders the job's clip ranges with `patch` as clip options; returns
/// its wall clock, clips stage seconds, video frames copied and frames.
async fn rerender(
    app: &TestApp,
    s: &Session,
    id: &str,
    ranges: &[Value],
    patch: Value,
) -> (f64, f64, u64, f64) {
    let (status, render) = app
        .post(
            &format!("/v1/jobs/{id}/clips"),
            &s.access_token,
            json!({"ranges": ranges, "clips": patch}),
        )
        .await;
    assert!(status.is_success(), "{render}");
    let rid = render["id"].as_str().unwrap().to_owned();
    let render = app
        .wait_for_job(&s.access_token, &rid, Duration::from_secs(3600))
        .await;
    assert_eq!(render["status"], "succeeded", "{render}");
    let wall = wall_clock(app, &s.tenant_id, &rid).await;
    let manifest = render["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "clips.json")
        .unwrap();
    let manifest: serde_json::Value = app
        .client
        .get(manifest["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (mut copied, mut frames) = (0, 0.0);
    for clip in manifest["clips"].as_array().unwrap() {
        frames += clip["duration"].as_f64().unwrap() * 30.0;
        for f in clip["files"].as_array().unwrap() {
            copied += f["frames_copied"].as_u64().unwrap_or(0);
        }
    }
    let (_, events) = app
        .get(&format!("/v1/jobs/{rid}/events"), &s.access_token)
        .await;
    let clips_stage = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "stage_completed" && e["stage"] == "clips")
        .map_or(0.0, |e| e["data"]["elapsed_ms"].as_f64().unwrap() / 1000.0);
    (wall, clips_stage, copied, frames)
}

/// One job's rows of the stage table: its clip options, its wall clock and
/// each stage's seconds.
type StageRow = (&'static str, f64, Vec<(String, f64)>);

/// Prints the re-render table, then the stage table.
fn print_tables(rerenders: Vec<(&str, f64, f64, u64, f64)>, stage_rows: Vec<StageRow>) {
    println!();
    println!("| re-render of the first job | wall clock | clips stage | video frames copied |");
    println!("|---|---|---|---|");
    for (what, wall, clips_stage, copied, frames) in rerenders {
        println!("| {what} | {wall:.1} s | {clips_stage:.1} s | {copied} of {frames:.0} |");
    }

    println!();
    println!("| clip options | stage | seconds | share of the job |");
    println!("|---|---|---|---|");
    for (label, wall, stages) in stage_rows {
        for (stage, secs) in stages {
            println!(
                "| {label} | {stage} | {secs:.1} | {:.0} % |",
                100.0 * secs / wall
            );
        }
    }
}

/// Seconds from a job's start to its end, as the database recorded them.
async fn wall_clock(app: &TestApp, tenant: &str, id: &str) -> f64 {
    let row = cutroom_core::queries::jobs::get(
        &app.app.db.orm,
        tenant.parse().unwrap(),
        id.parse().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    (row.finished_at.unwrap() - row.started_at.unwrap())
        .to_std()
        .unwrap()
        .as_secs_f64()
}

/// [`TALK`] spoken by espeak-ng, looped to [`LENGTH`] seconds under a
/// 1280x720 30 fps test pattern. H.264 + AAC.
fn make_source(path: &std::path::Path) {
    let speech = path.with_extension("speech.wav");
    let mut espeak = std::process::Command::new("espeak-ng");
    espeak
        .args(["-m", "-v", "en-us", "-s", "160", "-w"])
        .arg(&speech)
        .arg(TALK);
    assert!(espeak.status().expect("espeak-ng").success());
    let length = LENGTH.to_string();
    media::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=1280x720:rate=30:duration={length}"),
        "-stream_loop",
        "-1",
        "-i",
        speech.to_str().unwrap(),
        "-af",
        "aresample=48000",
        "-t",
        &length,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-movflags",
        "+faststart",
        path.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&speech);
}

//! Whole-pipeline benchmark: a ten-minute 720p talk submitted as a link,
//! from the worker starting the job to every clip uploaded (the job's
//! `finished_at`), with each stage's own time from the job's events.
//!
//! `cargo bench -p cutroom-tests --bench pipeline` (needs what
//! `bash .ci/setup --test` and `bash .ci/models` install). Run it on an
//! idle machine. Prints Markdown tables.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, TestApp, email, media};
use serde_json::json;

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
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({
                    "source": {"type": "youtube", "url": source.url("talk.mp4")},
                    "options": {"clips": clips}
                }),
            )
            .await;
        assert!(status.is_success(), "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        let job = app
            .wait_for_job(&s.access_token, &id, Duration::from_secs(3600))
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
        // As the database recorded them.
        let row = cutroom_core::queries::jobs::get(
            &app.app.db.orm,
            s.tenant_id.parse().unwrap(),
            id.parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        let wall = (row.finished_at.unwrap() - row.started_at.unwrap())
            .to_std()
            .unwrap()
            .as_secs_f64();
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
        let (_, events) = app
            .get(&format!("/v1/jobs/{id}/events"), &s.access_token)
            .await;
        let stages: Vec<(String, f64)> = events
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
            .collect();
        stage_rows.push((label, wall, stages));
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

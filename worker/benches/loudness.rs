//! Loudness benchmark: what measuring EBU R128 (integrated, LRA, true
//! peak, momentary and short-term series) costs on an hour of speech, next
//! to `ffmpeg -af ebur128=peak=true` on the same file.
//!
//! The hour is real speech (the LibriVox utterances and jfk.wav that
//! `bash .ci/setup --test` installs) looped, as 48 kHz stereo 16-bit WAV,
//! so decoding costs next to nothing and the timings are the meters'.
//!
//! `cargo bench -p cutroom-worker --features bench --bench loudness`. Prints a Markdown
//! table, then our values against ffmpeg's summary.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use cutroom_worker::bench::{Meter, decode};
use serde_json::Value;

const SECONDS: u32 = 3600;
const RATE: u32 = 48_000;
const CHANNELS: u16 = 2;
/// Frames per `add`, about what a decoder hands over at a time.
const FRAME: usize = 1024;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let hour = dir.path().join("hour.wav");
    let started = Instant::now();
    make_hour(dir.path(), &hour);
    println!(
        "(made {} in {:.1} s)\n",
        hour.display(),
        started.elapsed().as_secs_f64()
    );

    let samples = read_f32(&hour);
    let started = Instant::now();
    let mut meter = Meter::new(RATE, CHANNELS);
    for chunk in samples.chunks(FRAME * usize::from(CHANNELS)) {
        meter.add(chunk);
    }
    let ours = meter.finish();
    let meter_s = started.elapsed().as_secs_f64();
    drop(samples);

    let started = Instant::now();
    let decoded = decode(&hour).unwrap();
    let decode_s = started.elapsed().as_secs_f64();
    assert_eq!(decoded["integrated_lufs"], ours["integrated_lufs"]);

    let started = Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(&hour)
        .args(["-af", "ebur128=peak=true", "-f", "null", "-"])
        .output()
        .unwrap();
    let ffmpeg_s = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let minutes = f64::from(SECONDS) / 60.0;
    let per_min = |s: f64| s / minutes;
    println!(
        "| {SECONDS} s of 48 kHz stereo speech | s per minute of audio | total s | ffmpeg / this |"
    );
    println!("|---|---|---|---|");
    for (what, s) in [
        ("our meter (I, LRA, TP, M and S series)", meter_s),
        ("audio stage decode pass (16 kHz copy + meter)", decode_s),
        ("ffmpeg -af ebur128=peak=true", ffmpeg_s),
    ] {
        println!(
            "| {what} | {:.4} | {s:.2} | {:.2}x |",
            per_min(s),
            ffmpeg_s / s
        );
    }

    let summary = stderr.rsplit("Summary:").next().unwrap();
    println!("\n| value | ours | ffmpeg |\n|---|---|---|");
    for (what, key, section, field) in [
        (
            "integrated (LUFS)",
            "integrated_lufs",
            "Integrated loudness:",
            "I:",
        ),
        (
            "loudness range (LU)",
            "loudness_range_lu",
            "Loudness range:",
            "LRA:",
        ),
        ("true peak (dBTP)", "true_peak_dbtp", "True peak:", "Peak:"),
    ] {
        println!(
            "| {what} | {} | {} |",
            ours[key],
            value(summary, section, field)
        );
    }
    let series = ours["momentary"]["values"].as_array().map_or(0, Vec::len);
    println!("\n({series} momentary and short-term values each)");
}

/// Speech from the test data, looped to [`SECONDS`] as 48 kHz stereo WAV.
fn make_hour(dir: &Path, hour: &Path) {
    let data = std::env::var_os("CUTROOM_TEST_DATA").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/cutroom/testdata")
        },
        PathBuf::from,
    );
    let librivox = Path::new("/usr/share/pocketsphinx/test/data/librivox");
    let mut files: Vec<PathBuf> = std::fs::read_dir(librivox)
        .unwrap_or_else(|e| panic!("{}: {e} (bash .ci/setup --test)", librivox.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    files.push(data.join("jfk.wav"));
    let mut args: Vec<String> = Vec::new();
    for f in &files {
        assert!(
            f.is_file(),
            "{} is missing (bash .ci/setup --test)",
            f.display()
        );
        args.extend(["-i".into(), f.to_str().unwrap().into()]);
    }
    // Slightly different channels, as a real stereo mix has.
    let graph = format!(
        "concat=n={}:v=0:a=1,aresample={RATE},pan=stereo|c0=c0|c1=0.8*c0[out]",
        files.len()
    );
    let speech = dir.join("speech.wav");
    args.extend(["-filter_complex", &graph, "-map", "[out]"].map(String::from));
    args.push(speech.to_str().unwrap().into());
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let seconds = SECONDS.to_string();
    ffmpeg(&[
        "-stream_loop",
        "-1",
        "-i",
        speech.to_str().unwrap(),
        "-t",
        &seconds,
        "-c:a",
        "pcm_s16le",
        hour.to_str().unwrap(),
    ]);
}

/// The whole file as interleaved `f32`, decoded by ffmpeg before timing.
fn read_f32(path: &Path) -> Vec<f32> {
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bytes = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert!(child.wait().unwrap().success());
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (bash .ci/setup)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number after `key` on the first such line after `section` in
/// ffmpeg's ebur128 summary.
fn value(summary: &str, section: &str, key: &str) -> Value {
    let rest = summary.split(section).nth(1).unwrap_or_default();
    rest.lines()
        .find_map(|l| l.trim_start().strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(Value::Null, Value::from)
}

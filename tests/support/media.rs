//! Test media generated with the ffmpeg command line (lavfi), so nothing
//! large is committed and every property of the file is known.

use std::{path::Path, process::Command};

/// Runs a tool and panics with its stderr when it is missing or fails.
fn run(mut command: Command, installed_by: &str) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (installed by {installed_by})"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs ffmpeg quietly and panics with its stderr when it fails.
pub fn ffmpeg(args: &[&str]) {
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args);
    run(command, "bash .ci/setup");
}

/// A video of `duration` seconds whose audio is a 440 Hz tone at -6 dBFS,
/// silent exactly during `gaps` (start, end) in seconds. H.264 + AAC in MP4.
pub fn video_with_gaps(path: &Path, duration: f64, gaps: &[(f64, f64)]) {
    let silent: Vec<String> = gaps
        .iter()
        .map(|(a, b)| format!("between(t,{a},{b})"))
        .collect();
    let expr = if silent.is_empty() {
        "0.5*sin(2*PI*440*t)".to_owned()
    } else {
        format!("if({},0,0.5*sin(2*PI*440*t))", silent.join("+"))
    };
    let d = format!("{duration}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=320x240:rate=25:duration={d}"),
        "-f",
        "lavfi",
        "-i",
        &format!("aevalsrc='{expr}':s=48000:d={d}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-shortest",
        "-movflags",
        "+faststart",
        path.to_str().unwrap(),
    ]);
}

/// The first `fraction` of a file's bytes: what a broken upload leaves.
pub fn truncated_copy(src: &Path, dst: &Path, fraction: f64) {
    let bytes = std::fs::read(src).unwrap();
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..keep]).unwrap();
}

/// One sentence with no pause in it, for speech that runs on.
pub const SENTENCE: &str = "the quick brown fox jumps over the lazy dog while seven wizards quietly judge the boxing match and twelve gray cats watch from the old stone wall";

/// Speech synthesised by espeak-ng (`bash .ci/setup --test` installs it).
pub fn espeak(path: &Path, voice: &str, text: &str) {
    let mut command = Command::new("espeak-ng");
    command
        .args(["-v", voice, "-s", "165", "-w"])
        .arg(path)
        .arg(text);
    run(command, "bash .ci/setup --test");
}

/// A video of `duration` seconds whose audio is [`SENTENCE`] spoken over
/// and over, cut to digital silence exactly during `gaps`. H.264 + AAC.
pub fn talk_with_gaps(path: &Path, duration: f64, gaps: &[(f64, f64)]) {
    let speech = path.with_extension("speech.wav");
    espeak(&speech, "en-us", SENTENCE);
    let muted: Vec<String> = gaps
        .iter()
        .map(|(a, b)| format!("between(t,{a},{b})"))
        .collect();
    let mut filter = "aresample=48000,apad".to_owned();
    if !muted.is_empty() {
        filter.push_str(&format!(",volume=0:enable='{}'", muted.join("+")));
    }
    let d = format!("{duration}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=320x240:rate=25:duration={d}"),
        "-stream_loop",
        "-1",
        "-i",
        speech.to_str().unwrap(),
        "-af",
        &filter,
        "-t",
        &d,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-movflags",
        "+faststart",
        path.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&speech);
}

/// A video whose audio is `text` spoken once by espeak-ng, with half a
/// second of quiet either side. `text` may hold SSML pauses
/// (`<break time="1500ms"/>`). H.264 + AAC.
pub fn spoken(path: &Path, text: &str) {
    let speech = path.with_extension("speech.wav");
    let mut command = Command::new("espeak-ng");
    command
        .args(["-m", "-v", "en-us", "-s", "165", "-w"])
        .arg(&speech)
        .arg(text);
    run(command, "bash .ci/setup --test");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-i",
        speech.to_str().unwrap(),
        "-af",
        "aresample=48000,adelay=500:all=1,apad=pad_dur=0.5",
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-movflags",
        "+faststart",
        path.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&speech);
}

/// An MP3 of `held` seconds of tone whose header (LAME's Xing/Info frame
/// count) declares only `declared` seconds: what a lying header looks like.
/// 16 kHz mono, so a frame is 576 samples.
pub fn mp3_declaring(path: &Path, declared: f64, held: f64) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:sample_rate=16000:duration={held}"),
        "-c:a",
        "libmp3lame",
        "-b:a",
        "32k",
        path.to_str().unwrap(),
    ]);
    let mut bytes = std::fs::read(path).unwrap();
    let tag = [&b"Xing"[..], b"Info"]
        .iter()
        .find_map(|t| bytes.windows(4).position(|w| w == *t))
        .expect("LAME writes a Xing/Info frame");
    let flags = u32::from_be_bytes(bytes[tag + 4..tag + 8].try_into().unwrap());
    assert!(flags & 1 == 1, "the Info frame counts frames");
    let frames = (declared * 16_000.0 / 576.0).ceil() as u32;
    bytes[tag + 8..tag + 12].copy_from_slice(&frames.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

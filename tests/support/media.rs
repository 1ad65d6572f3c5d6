//! Test media generated with the ffmpeg command line (lavfi), so nothing
//! large is committed and every property of the file is known.

use std::{path::Path, process::Command};

/// Runs ffmpeg quietly and panics with its stderr when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (bash .ci/setup)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

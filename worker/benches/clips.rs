//! `cargo bench -p cutroom-worker --features bench --bench clips`: what rendering a clip
//! costs, per output shape, for 720p and 1080p sources: encode speed as a
//! multiple of real time, and the loudness fitting before it.
//!
//! Sources are made with the `ffmpeg` command line: 70 s of `testsrc2` (a
//! moving, detailed picture, harder to encode than most talking heads) at
//! 30 fps, with noise and tones for sound. Each row renders the 30 s from
//! 20 s to 50 s, with burned captions, as a job does. A last table times
//! the face sampling of `reframe: speaker` over the same cut (the test
//! pattern has no face, so it measures the search, which costs the same).
//! The middle table compares a smart render (the source's H.264 copied
//! between keyframes, only the ends encoded) with a full encode of the
//! same `original`-shape cut without captions, 20.5 s to 49.7 s so that
//! both ends fall between keyframes (every 2 s).

// A benchmark's output is its report.
#![allow(clippy::print_stdout)]

use std::{path::Path, process::Command};

use cutroom_core::clips::{ClipFormat, Reframe};
use cutroom_worker::bench::{Models, render_clip};

const CUT: (f64, f64) = (20.0, 50.0);
/// Off the keyframes at both ends.
const SMART_CUT: (f64, f64) = (20.5, 49.7);

fn source(path: &Path, size: &str) {
    let video = format!("testsrc2=size={size}:rate=30:duration=70");
    let audio = "aevalsrc=exprs='0.05*(random(0)*2-1)+0.2*sin(2*PI*220*t)*lt(mod(t,2),1)':\
                 sample_rate=48000:duration=70";
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(&video)
        .args(["-f", "lavfi", "-i", audio])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-ac", "2", "-shortest"])
        .arg(path)
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success());
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    println!("| source | format | reframe | output | loudness fit s | render s | x real time |");
    println!("|---|---|---|---|---|---|---|");
    for (name, size) in [("720p", "1280x720"), ("1080p", "1920x1080")] {
        let path = dir.path().join(format!("{name}.mp4"));
        source(&path, size);
        for (format, reframe) in [
            (ClipFormat::Original, Reframe::Blur),
            (ClipFormat::Vertical, Reframe::Blur),
            (ClipFormat::Vertical, Reframe::Crop),
            (ClipFormat::Square, Reframe::Blur),
        ] {
            let out = dir.path().join(format!("{name}-{}.mp4", format.name()));
            let r = render_clip(&path, &out, CUT, format, reframe, true, false).expect("rendered");
            let seconds = CUT.1 - CUT.0;
            println!(
                "| {name} | {} | {reframe:?} | {}x{} | {:.2} | {:.1} | {:.2} |",
                format.name(),
                r.width,
                r.height,
                r.fit_seconds,
                r.render_seconds,
                seconds / r.render_seconds,
            );
        }
    }

    // Smart rendering against encoding everything, same cut, same shape.
    println!();
    println!("| source | render | frames copied | render s | x real time |");
    println!("|---|---|---|---|---|");
    for name in ["720p", "1080p"] {
        let path = dir.path().join(format!("{name}.mp4"));
        let seconds = SMART_CUT.1 - SMART_CUT.0;
        let mut times = Vec::new();
        for smart in [false, true] {
            let out = dir.path().join(format!("{name}-smart-{smart}.mp4"));
            let r = render_clip(
                &path,
                &out,
                SMART_CUT,
                ClipFormat::Original,
                Reframe::Blur,
                false,
                smart,
            )
            .expect("rendered");
            times.push(r.render_seconds);
            println!(
                "| {name} | {} | {} of {} | {:.1} | {:.2} |",
                if smart { "smart" } else { "full" },
                r.copied_frames,
                r.frames,
                r.render_seconds,
                seconds / r.render_seconds,
            );
        }
        println!(
            "| {name} | smart speed-up | | | {:.1}x |",
            times[0] / times[1]
        );
    }

    // Speaker framing's extra cost: finding faces on the sampled frames of
    // the same 30 s cut, before the (crop-priced) render.
    let Some(models) = std::env::var_os("CUTROOM_MODELS_DIR") else {
        println!("\n(CUTROOM_MODELS_DIR is not set: no face sampling rows)");
        return;
    };
    let models = Models::open(Path::new(&models)).expect("the model folder");
    println!();
    println!(
        "| source | frames sampled | with a face | seconds | share of a 30 s cut's real time |"
    );
    println!("|---|---|---|---|---|");
    for name in ["720p", "1080p"] {
        let path = dir.path().join(format!("{name}.mp4"));
        let (frames, faces, seconds) = models.sample_faces(&path, CUT, 2).expect("faces sampled");
        println!(
            "| {name} | {frames} | {faces} | {seconds:.2} | {:.0} % |",
            100.0 * seconds / (CUT.1 - CUT.0)
        );
    }
}

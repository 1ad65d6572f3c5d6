//! Test media generated with the ffmpeg command line (lavfi), so nothing
//! large is committed and every property of the file is known.

use std::{path::Path, process::Command};

use serde_json::Value;

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

/// Four sentences for a [`marked_talk`], about gardens.
pub const MARKED_SENTENCES: [&str; 4] = [
    "Welcome to the show about gardens.",
    "Thank you all for coming to the meeting today.",
    "The weather looks lovely this afternoon in the park.",
    "We will plant roses by the old stone wall.",
];

/// How long a [`marked_talk`] pauses between sentences; its marker is in
/// the middle.
const MARKED_PAUSE: f64 = 1.5;

/// A 640x480 video of `sentences` spoken by espeak-ng with a pause
/// between each two, and in the middle of every pause a sync marker:
/// the picture flashes white for 0.2 s as a 1 kHz beep of 0.1 s starts.
/// Returns the markers' times. H.264 + AAC in MP4, 25 fps.
pub fn marked_talk(path: &Path, sentences: &[&str]) -> Vec<f64> {
    let dir = path.parent().unwrap();
    let mut inputs = Vec::new();
    let mut markers = Vec::new();
    let mut at = 0.5;
    for (k, sentence) in sentences.iter().enumerate() {
        let wav = dir.join(format!("sentence-{k}.wav"));
        espeak(&wav, "en-us", sentence);
        at += duration(&wav);
        if k + 1 < sentences.len() {
            markers.push(at + MARKED_PAUSE / 2.0);
            at += MARKED_PAUSE;
        }
        inputs.push(wav);
    }
    let total = at + 0.5;
    // Each sentence padded with its pause, half a second before the first
    // and after the last.
    let mut filter = String::new();
    for k in 0..inputs.len() {
        let pad = if k + 1 < inputs.len() {
            MARKED_PAUSE
        } else {
            0.5
        };
        let delay = if k == 0 { ",adelay=500:all=1" } else { "" };
        filter.push_str(&format!(
            "[{k}:a]aresample=48000{delay},apad=pad_dur={pad}[s{k}];"
        ));
    }
    for k in 0..inputs.len() {
        filter.push_str(&format!("[s{k}]"));
    }
    let beeps: Vec<String> = markers
        .iter()
        .map(|m| format!("between(t,{m},{})", m + 0.1))
        .collect();
    let flashes: Vec<String> = markers
        .iter()
        .map(|m| format!("between(t,{m},{})", m + 0.195))
        .collect();
    let n = inputs.len();
    filter.push_str(&format!(
        "concat=n={n}:v=0:a=1[speech];\
         aevalsrc='if({},0.3*sin(2*PI*1000*t),0)':s=48000:d={total}[beep];\
         [speech][beep]amix=inputs=2:normalize=0:duration=longest,atrim=0:{total}[a];\
         testsrc2=size=640x480:rate=25:duration={total},\
         drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{}'[v]",
        beeps.join("+"),
        flashes.join("+"),
    ));
    let mut args: Vec<String> = Vec::new();
    for wav in &inputs {
        args.extend(["-i".into(), wav.to_str().unwrap().into()]);
    }
    args.extend(
        [
            "-filter_complex",
            &filter,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "50",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-movflags",
            "+faststart",
            path.to_str().unwrap(),
        ]
        .map(String::from),
    );
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for wav in inputs {
        let _ = std::fs::remove_file(wav);
    }
    markers
}

/// A media file's duration in seconds, as ffprobe reads it.
pub fn duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration"])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe: {e} (installed by bash .ci/setup)"));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// `src` as YouTube serves it: a DASH manifest (`dir/manifest.mpd`) whose
/// video and audio are separate adaptation sets, the video in two
/// renditions, as tall as `src` and half its size.
pub fn dash(src: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "50",
        "-filter:v:1",
        "scale=iw/2:ih/2",
        "-c:a",
        "copy",
        "-f",
        "dash",
        "-adaptation_sets",
        "id=0,streams=v id=1,streams=a",
        dir.join("manifest.mpd").to_str().unwrap(),
    ]);
}

/// `src` as an HLS master playlist (`dir/master.m3u8`) whose one video
/// variant takes its sound from a separate audio rendition. The H.264 is
/// made Annex B, so ffmpeg can write the variant's `CODECS`, which
/// players (and yt-dlp) need to tell a video-only variant.
pub fn hls(src: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let segments = dir.join("segment-%v-%03d.ts");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-c",
        "copy",
        "-bsf:v",
        "h264_mp4toannexb",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        segments.to_str().unwrap(),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        "v:0,agroup:aud a:0,agroup:aud,default:yes",
        dir.join("stream-%v.m3u8").to_str().unwrap(),
    ]);
}

/// Width of the windows a [`marked_talk`]'s beeps are looked for in.
pub const BEEP_WINDOW: f64 = 0.005;

/// `(time, value)` of one metadata key per frame, from a lavfi graph over
/// the file (`movie` or `amovie`, then `filters`).
pub fn lavfi_series(path: &Path, source: &str, filters: &str, key: &str) -> Vec<(f64, f64)> {
    let graph = format!("{source}={},{filters}", path.to_str().unwrap());
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i", &graph])
        .args(["-show_entries", &format!("frame=pts_time:frame_tags={key}")])
        .args(["-of", "csv=p=0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (t, v) = l.split_once(',')?;
            // `-inf` dB (digital silence) parses as minus infinity.
            Some((t.parse().ok()?, v.trim().parse().ok()?))
        })
        .collect()
}

/// The sound's RMS level (dB) in windows of [`BEEP_WINDOW`], by time.
pub fn beep_windows(path: &Path) -> Vec<(f64, f64)> {
    lavfi_series(
        path,
        "amovie",
        &format!(
            "asetnsamples=n={}:p=0,astats=metadata=1:reset=1",
            (48_000.0 * BEEP_WINDOW) as u32
        ),
        "lavfi.astats.Overall.RMS_level",
    )
}

/// The `markers` (times on the source) well inside a clip (its `start`
/// and `duration` as the API gives them), on the clip's timeline.
pub fn markers_in_clip(clip: &Value, markers: &[f64]) -> Vec<f64> {
    let (start, duration) = (
        clip["start"].as_f64().unwrap(),
        clip["duration"].as_f64().unwrap(),
    );
    markers
        .iter()
        .map(|m| m - start)
        .filter(|t| 0.5 < *t && *t < duration - 0.5)
        .collect()
}

/// The points of `series` within 0.4 s of `at`.
pub fn near(series: &[(f64, f64)], at: f64) -> Vec<(f64, f64)> {
    series
        .iter()
        .copied()
        .filter(|(t, _)| (at - 0.4..at + 0.4).contains(t))
        .collect()
}

/// Where the beep near `at` starts, in [`beep_windows`]: the first window
/// within 20 dB of the loudest one near it.
pub fn beep_near(loudness: &[(f64, f64)], at: f64) -> f64 {
    let around = near(loudness, at);
    let loudest = around.iter().map(|(_, db)| *db).fold(f64::MIN, f64::max);
    around
        .iter()
        .find(|(_, db)| *db > loudest - 20.0)
        .unwrap()
        .0
}

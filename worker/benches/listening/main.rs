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
//! `cargo bench -p cutroom-worker --features bench --bench listening`; a program that is
//! missing is skipped with a note. `CUTROOM_BENCH_SECONDS` shortens the
//! audio; `CUTROOM_BENCH_ONLY=tiny,cli` runs only the transcription rows
//! whose label holds one of the words; `CUTROOM_BENCH_TEXT_DIR` keeps the
//! audio, the reference, every transcript and the other programs' logs
//! there.

// A benchmark report is printed output by design.
#![allow(clippy::print_stdout)]

mod audio;
mod peers;

use std::{
    fs,
    path::{Path, PathBuf},
};

use cutroom_worker::{
    bench::{Meter, Models, RATE, Wer, WhisperQuant, decode},
    models::WhisperModel,
};

use audio::{Placed, load, make_audio, speakers_note};
use peers::{Usage, cache, env, faster_whisper, measure, whisper_cli};

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
                        .transcribe(
                            (run.model, run.quant, run.flash),
                            run.threads,
                            &audio,
                            given,
                        )
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
            if r.flash {
                format!("{} + flash attention", r.weights())
            } else {
                r.weights().to_owned()
            },
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
    /// whisper.cpp's flash attention (Cutroom's rows only; the CLI runs
    /// with `-nfa`, faster-whisper has none on a CPU).
    flash: bool,
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
        let flash = if self.flash { " fa" } else { "" };
        format!(
            "{engine} {} {}{flash} t{} {given}",
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
        flash: false,
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
                // Flash attention, on the two threads a job gets.
                if threads == 2 {
                    for vad in [true, false] {
                        plan.push(Run {
                            flash: true,
                            ..run(Cutroom, model, quant, threads, vad)
                        });
                    }
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

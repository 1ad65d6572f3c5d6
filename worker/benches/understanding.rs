//! `cargo bench -p cutroom-worker --features bench --bench understanding`: the analysis
//! (builtin provider) and moderation stages on an hour of transcript, then
//! the `openai` provider against a real llama-server with SmolLM2-135M
//! (`CUTROOM_TEST_LLAMA_SERVER`, from `bash .ci/setup --test`) with 1 and
//! 2 requests in flight. `CUTROOM_BENCH_LLM_MINUTES` sets how much of the
//! transcript the LLM reads (default 20: on two cores SmolLM2 takes about
//! three minutes per ten-minute chunk).
//!
//! The transcript is real text with even word timing: the 66 sentences of
//! the moderation set and the five LibriVox reference lines, in a fixed
//! shuffled order, spoken at 2.5 words a second with half-second pauses,
//! repeated until an hour is filled. What the stages cost depends on the
//! number of sentences and words, not on the timing values.

// A benchmark's output is its report.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use cutroom_worker::bench::{LlamaServer, Models, SMOLLM2};

const LIBRIVOX: &str = "/usr/share/pocketsphinx/test/data/librivox/transcription";
const HOUR: f64 = 3600.0;
const WORDS_PER_SECOND: f64 = 2.5;

fn main() {
    let models = std::env::var_os("CUTROOM_MODELS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cutroom/models"),
        PathBuf::from,
    );
    let models = Models::open(&models).expect("the model folder (run `bash .ci/models`)");
    let lines = hour_of_lines();
    let words: usize = lines.iter().map(|l| l.2.split_whitespace().count()).sum();
    println!(
        "{} segments, {words} words, {:.0} s of transcript",
        lines.len(),
        lines.last().map_or(0.0, |l| l.1)
    );
    println!(
        "| threads | analysis (builtin) s | moderation s | sentences | chapters | highlights | flagged segments |"
    );
    println!("|---|---|---|---|---|---|---|");
    for threads in [1, 2] {
        let (u, analysis, moderation) = models.understand(threads, &lines).expect("stages ran");
        println!(
            "| {threads} | {analysis:.2} | {moderation:.2} | {} | {} | {} | {} of {} |",
            u.sentences, u.chapters, u.highlights, u.flagged, u.segments
        );
    }
    println!("Peak RSS of this process: {} MiB", peak_rss_mib());

    let minutes: f64 = std::env::var("CUTROOM_BENCH_LLM_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(20.0);
    let llm_lines: Vec<_> = lines
        .iter()
        .filter(|l| l.1 <= minutes * 60.0)
        .cloned()
        .collect();
    println!();
    println!(
        "openai provider, llama-server + SmolLM2-135M Q4_1 on 2 threads, {minutes:.0} min of transcript, 600 s chunks"
    );
    println!(
        "| in flight (server slots) | outcome | seconds | chunks | requests | repairs | prompt tokens | completion tokens | chapters | highlights |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for in_flight in [1u32, 2] {
        // 16k tokens a slot: a ten-minute chunk is ~4.7k tokens of prompt,
        // and this small model writes long answers.
        let server = LlamaServer::start(in_flight, 16384, 2).expect("llama-server started");
        let u = models
            .understand_with_llm(
                &server.url(),
                SMOLLM2,
                &llm_lines,
                600.0,
                in_flight as usize,
            )
            .expect("the provider ran");
        println!(
            "| {in_flight} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            u.outcome,
            u.seconds,
            u.chunks,
            u.requests,
            u.repairs,
            u.prompt_tokens,
            u.completion_tokens,
            u.chapters,
            u.highlights
        );
    }
}

fn hour_of_lines() -> Vec<(f64, f64, String)> {
    let mut texts: Vec<String> = include_str!("../src/text/moderation_set.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once('\t').map(|(_, t)| t.to_owned()))
        .collect();
    let librivox = std::fs::read_to_string(LIBRIVOX)
        .unwrap_or_else(|e| panic!("{LIBRIVOX}: {e} (run `bash .ci/setup --test`)"));
    texts.extend(librivox.lines().filter_map(|l| {
        let (said, _) = l.rsplit_once(" (")?;
        let said = said.replace("<s>", "").replace("</s>", "");
        let said = said.trim();
        // The reference is lower-case without punctuation: end it.
        Some(format!("{}{}.", said[..1].to_uppercase(), &said[1..]))
    }));
    let mut order: Vec<usize> = (0..texts.len()).collect();
    let mut seed = 0x9e37_79b9_u32;
    let mut lines = Vec::new();
    let mut at = 0.0;
    while at < HOUR {
        // xorshift shuffle: the same order every run.
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            order.swap(i, seed as usize % (i + 1));
        }
        for &k in &order {
            let text = &texts[k];
            let seconds = text.split_whitespace().count() as f64 / WORDS_PER_SECOND;
            lines.push((at, at + seconds, text.clone()));
            at += seconds + 0.5;
            if at >= HOUR {
                break;
            }
        }
    }
    lines
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

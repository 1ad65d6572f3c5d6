//! `cargo bench -p cutroom-worker --features bench --bench wording`: how
//! well each analysis provider titles chapters and summarises a talk,
//! against titles and summaries a person wrote, and what it costs.
//!
//! The reference set is `benches/wording/talks.json`: six short talks
//! written for Cutroom, three chapters each, with the chapter titles and
//! summary an editor gave them. Four are for tuning and two are held out
//! (prompts and checks are never adjusted on them); the two are reported
//! apart. Each talk is read at 2.5 words a second with half-second pauses
//! between sentences, as a transcript with even word timing.
//!
//! Providers: `builtin`, and `local` with each model found: SmolLM2-135M
//! (`bash .ci/setup --test`) and Qwen2.5-Coder-0.5B-Instruct
//! (`bash .ci/local-llm`), on llama-server with two threads and two slots.
//!
//! Scores, per talk then averaged:
//! - ROUGE-L F1 (longest common subsequence of lower-case words) of each
//!   reference chapter's title against the title of the found chapter
//!   that overlaps it most, and of the summary against the reference.
//! - A rubric for every title (chapters and highlights), applied by rule:
//!   complete (3 to 12 words, not ending on a function word or "…"),
//!   faithful (every content word of the title is said in its passage,
//!   same first five letters counting as the same word), specific (holds a
//!   content word its passage says at least twice).
//! - Seconds and US dollars per hour of transcript: the wording's time
//!   (builtin's own analysis is reported apart) at the default worker price
//!   of two cores ($0.08 an hour).

// A benchmark's output is its report.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use cutroom_worker::bench::{LlamaServer, Models, SMOLLM2, Worded, rouge_l, words};
use serde::Deserialize;

const WORDS_PER_SECOND: f64 = 2.5;
const PAUSE: f64 = 0.5;
/// Two cores at the default $0.04 a core-hour.
const WORKER_USD_PER_HOUR: f64 = 0.08;
const QWEN: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m";

#[derive(Deserialize)]
struct Set {
    talks: Vec<Talk>,
}

#[derive(Deserialize)]
struct Talk {
    id: String,
    split: String,
    summary: String,
    chapters: Vec<RefChapter>,
}

#[derive(Deserialize)]
struct RefChapter {
    title: String,
    sentences: Vec<String>,
}

/// `(start, end, text)` of one sentence.
type Line = (f64, f64, String);

/// A talk as a transcript: a line per sentence, and each reference
/// chapter's `(start, end)`.
fn timed(talk: &Talk) -> (Vec<Line>, Vec<(f64, f64)>) {
    let mut lines = Vec::new();
    let mut spans = Vec::new();
    let mut t = 0.0;
    for c in &talk.chapters {
        let start = t;
        for s in &c.sentences {
            let seconds = s.split_whitespace().count() as f64 / WORDS_PER_SECOND;
            lines.push((t, t + seconds, s.clone()));
            t += seconds + PAUSE;
        }
        spans.push((start, t - PAUSE));
    }
    (lines, spans)
}

const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "from",
    "by", "is", "are", "was", "it", "that", "this", "so", "as", "your", "my", "their", "our",
];

fn content(w: &str) -> bool {
    w.chars().count() >= 4 && !FUNCTION_WORDS.contains(&w)
}

fn same(a: &str, b: &str) -> bool {
    let stem = |w: &str| w.chars().take(5).collect::<String>();
    a == b || (a.chars().count() >= 5 && b.chars().count() >= 5 && stem(a) == stem(b))
}

/// `(complete, faithful, specific)` of a title over its passage.
fn rubric(title: &str, passage: &[String]) -> (bool, bool, bool) {
    let t = words(title);
    let complete = (3..=12).contains(&t.len())
        && !title.trim_end().ends_with('…')
        && t.last()
            .is_some_and(|w| !FUNCTION_WORDS.contains(&w.as_str()));
    let said = |w: &str| passage.iter().any(|p| same(w, p));
    let own: Vec<&String> = t.iter().filter(|w| content(w)).collect();
    let faithful = !own.is_empty() && own.iter().all(|w| said(w));
    let specific = own
        .iter()
        .any(|w| passage.iter().filter(|p| same(w, p)).count() >= 2);
    (complete, faithful, specific)
}

fn passage(lines: &[Line], (start, end): (f64, f64)) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.0 >= start - 0.05 && l.1 <= end + 0.05)
        .flat_map(|l| words(&l.2))
        .collect()
}

#[derive(Default)]
struct Score {
    talks: usize,
    chapter_rouge: f64,
    summary_rouge: f64,
    titles: usize,
    complete: usize,
    faithful: usize,
    specific: usize,
    transcript_seconds: f64,
    builtin_seconds: f64,
    wording_seconds: f64,
    asked: usize,
    written: usize,
    completion_tokens: u64,
}

impl Score {
    fn add(&mut self, talk: &Talk, lines: &[Line], spans: &[(f64, f64)], w: &Worded) {
        self.talks += 1;
        let mut rouge = 0.0;
        for (c, span) in talk.chapters.iter().zip(spans) {
            let overlap = |s: &Line| (s.1.min(span.1) - s.0.max(span.0)).max(0.0);
            let found = w
                .chapters
                .iter()
                .max_by(|a, b| overlap(a).total_cmp(&overlap(b)));
            rouge += found.map_or(0.0, |f| rouge_l(&f.2, &c.title));
        }
        self.chapter_rouge += rouge / talk.chapters.len() as f64;
        self.summary_rouge += rouge_l(&w.summary, &talk.summary);
        for (start, end, title) in w.chapters.iter().chain(&w.highlights) {
            let (c, f, s) = rubric(title, &passage(lines, (*start, *end)));
            self.titles += 1;
            self.complete += usize::from(c);
            self.faithful += usize::from(f);
            self.specific += usize::from(s);
        }
        self.transcript_seconds += lines.last().map_or(0.0, |l| l.1);
        self.builtin_seconds += w.builtin_seconds;
        self.wording_seconds += w.wording_seconds;
        self.asked += w.asked;
        self.written += w.written;
        self.completion_tokens += w.completion_tokens;
    }

    fn row(&self, provider: &str, split: &str) -> String {
        let n = self.talks.max(1) as f64;
        let pct = |k: usize| 100.0 * k as f64 / self.titles.max(1) as f64;
        let per_hour = self.wording_seconds * 3600.0 / self.transcript_seconds.max(1.0);
        let written = if self.asked == 0 {
            "-".to_owned()
        } else {
            format!("{} of {}", self.written, self.asked)
        };
        format!(
            "| {provider} | {split} | {} | {:.3} | {:.3} | {:.0}% | {:.0}% | {:.0}% | {written} | {per_hour:.0} | ${:.4} |",
            self.talks,
            self.chapter_rouge / n,
            self.summary_rouge / n,
            pct(self.complete),
            pct(self.faithful),
            pct(self.specific),
            per_hour / 3600.0 * WORKER_USD_PER_HOUR,
        )
    }
}

fn main() {
    let set: Set = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/wording/talks.json"),
        )
        .expect("benches/wording/talks.json"),
    )
    .expect("the reference set parses");
    let models_dir = std::env::var_os("CUTROOM_MODELS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cutroom/models"),
        PathBuf::from,
    );
    let models = Models::open(&models_dir).expect("the model folder (run `bash .ci/models`)");
    let qwen = models_dir.join(format!("llm/{QWEN}.gguf"));

    let mut servers: Vec<(String, Option<LlamaServer>, String)> =
        vec![("builtin".into(), None, String::new())];
    match LlamaServer::start(2, 4096, 2) {
        Ok(s) => servers.push(("local SmolLM2-135M".into(), Some(s), SMOLLM2.into())),
        Err(e) => println!("SmolLM2 left out: {e:#}"),
    }
    if qwen.is_file() {
        let s = LlamaServer::start_on(&qwen, QWEN, 2, 4096, 2).expect("llama-server on Qwen");
        servers.push(("local Qwen2.5-0.5B".into(), Some(s), QWEN.into()));
    } else {
        println!(
            "Qwen left out: {} is missing (bash .ci/local-llm)",
            qwen.display()
        );
    }

    println!(
        "| provider | split | talks | chapter title ROUGE-L | summary ROUGE-L | complete | faithful | specific | model's wording kept | wording s per hour of transcript | wording $ per hour |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut examples = Vec::new();
    for (name, server, model) in &servers {
        for split in ["tune", "held_out"] {
            let mut score = Score::default();
            for talk in set.talks.iter().filter(|t| t.split == split) {
                let (lines, spans) = timed(talk);
                let url = server.as_ref().map(LlamaServer::url);
                let llm = url.as_deref().map(|u| (u, model.as_str()));
                let worded = models.word(&lines, llm, 2).expect("the analysis ran");
                score.add(talk, &lines, &spans, &worded);
                if split == "held_out" {
                    examples.push((name.clone(), talk.id.clone(), worded));
                }
            }
            println!("{}", score.row(name, split));
        }
    }
    println!();
    println!("Held-out talks, as each provider worded them:");
    for (name, talk, w) in &examples {
        println!();
        println!("{name}, {talk}:");
        println!("  summary: {}", w.summary);
        for c in &w.chapters {
            println!("  chapter {:>5.0} s: {}", c.0, c.2);
        }
        for h in &w.highlights {
            println!("  highlight {:>3.0}-{:.0} s: {}", h.0, h.1, h.2);
        }
        for r in &w.reasons {
            println!("  refused: {r}");
        }
    }
}

//! `cargo bench -p cutroom-worker --features bench --bench routing`: the
//! transcription router's choices and their cost on a mixed month of work
//! (many short files, some long ones) beside "always local" and "always
//! cloud", by the router's own cost model: the local engine at its
//! measured real-time factor (`route::local_rtf`, from the listening
//! benchmark) and the worker's price, the cloud engines at their list
//! prices for the speech sent. These are the estimates the router decides
//! by, not bills: no cloud engine can be reached from here.

// A benchmark's output is its report.
#![allow(clippy::print_stdout)]

use cutroom_core::speech::{AtBudget, Engine, EngineChoice, Tier, list_price};
use cutroom_worker::bench::route::{self, Ask, Cloud};

/// Speech seconds of each file: 400 short (2-10 min), 40 medium
/// (20-40 min) and 10 long (1.5-3 h), spread evenly in those ranges.
fn workload() -> Vec<f64> {
    let spread = |n: usize, lo: f64, hi: f64| {
        (0..n).map(move |i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
    };
    spread(400, 120.0, 600.0)
        .chain(spread(40, 1200.0, 2400.0))
        .chain(spread(10, 5400.0, 10_800.0))
        .collect()
}

fn clouds() -> Vec<Cloud> {
    [
        (Engine::Deepgram, "nova-3"),
        (Engine::Openai, "whisper-large-v3-turbo"),
    ]
    .into_iter()
    .map(|(engine, model)| Cloud {
        engine,
        model: model.into(),
        price_per_minute: list_price(engine, model).expect("a cloud price"),
    })
    .collect()
}

struct Tally {
    local: usize,
    cloud: usize,
    usd: f64,
    worker_hours: f64,
}

fn run(choice: EngineChoice, tier: Tier, model: &str, budget: Option<f64>) -> Tally {
    let mut t = Tally {
        local: 0,
        cloud: 0,
        usd: 0.0,
        worker_hours: 0.0,
    };
    let mut spent = 0.0;
    for speech in workload() {
        let ask = Ask {
            choice,
            tier,
            speech_seconds: speech,
            // The pauses put between speech intervals: about a tenth more.
            sent_seconds: speech * 1.1,
            local_model: model.into(),
            cost_per_hour: 0.08,
            threads: 2,
            cloud: clouds(),
            unusable: Vec::new(),
            budget_left: budget.map(|b: f64| (b - spent).max(0.0)),
            at_budget: AtBudget::Cheapest,
            long_speech: 1800.0,
        };
        let plan = route::plan(&ask).expect("an engine");
        let first = &plan.order[0];
        spent += first.estimate;
        t.usd += first.estimate;
        if first.engine == Engine::Local {
            t.local += 1;
            t.worker_hours += speech * route::local_rtf(model) / 3600.0;
        } else {
            t.cloud += 1;
        }
    }
    t
}

fn main() {
    let files = workload();
    let hours: f64 = files.iter().sum::<f64>() / 3600.0;
    println!(
        "{} files, {hours:.0} h of speech; worker $0.08/h (2 threads), Deepgram nova-3 $0.0043/min, \
         Groq-priced whisper-large-v3-turbo $0.04/h\n",
        files.len()
    );
    println!(
        "| policy | local model | files local | files cloud | estimated cost | worker hours |"
    );
    println!("|---|---|---|---|---|---|");
    for model in ["tiny.en", "base"] {
        for (name, choice, tier, budget) in [
            ("always local", EngineChoice::Local, Tier::Balanced, None),
            (
                "always Deepgram",
                EngineChoice::Deepgram,
                Tier::Balanced,
                None,
            ),
            ("auto, balanced", EngineChoice::Auto, Tier::Balanced, None),
            ("auto, accurate", EngineChoice::Auto, Tier::Accurate, None),
            (
                "auto, accurate, $1 budget",
                EngineChoice::Auto,
                Tier::Accurate,
                Some(1.0),
            ),
            ("auto, fast", EngineChoice::Auto, Tier::Fast, None),
        ] {
            let t = run(choice, tier, model, budget);
            println!(
                "| {name} | {model} | {} | {} | ${:.2} | {:.1} |",
                t.local, t.cloud, t.usd, t.worker_hours
            );
        }
    }
}

//! The router: which engine transcribes a job, and which take over when
//! it fails. It decides once the VAD has run, from the speech's length
//! (what is transcribed, and what cloud engines charge for), the job's
//! choice and tier, the engines the tenant set up, and what is left of its
//! budget. Pure: [`plan`] weighs, the stage runs the plan
//! ([`super::run`]).
//!
//! - A job that names an engine gets that engine and no other (when its
//!   budget is spent and its tenant chose `cheapest`, the cheapest engine
//!   instead, and the report says so).
//! - `auto` weighs every engine it may use: the local one and each cloud
//!   engine with a key. An estimate over the budget left sets an engine
//!   aside. `fast` takes the cheapest; `balanced` the local engine, or the
//!   cheapest cloud engine for speech longer than
//!   `CUTROOM_ROUTER_LONG_SPEECH_SECS`; `accurate` the cheapest cloud
//!   engine. The others follow, cheapest first, should it fail.

use cutroom_core::speech::{AtBudget, Considered, Engine, EngineChoice, Tier};

/// Seconds of CPU (at two threads) the local models take per second of
/// speech, from the listening benchmark (`docs/benchmarks.md`: tiny.en
/// q8_0 0.020-0.035 of the whole file, base 0.042-0.077), rounded up so
/// estimates do not flatter the local engine.
pub fn local_rtf(model: &str) -> f64 {
    match model {
        "tiny.en" => 0.035,
        _ => 0.08,
    }
}

/// A cloud engine the tenant can use, with its price.
#[derive(Clone, Debug)]
pub struct Cloud {
    pub engine: Engine,
    pub model: String,
    pub price_per_minute: f64,
}

/// What the router weighs.
#[derive(Clone, Debug)]
pub struct Ask {
    pub choice: EngineChoice,
    pub tier: Tier,
    /// Seconds of speech the VAD found.
    pub speech_seconds: f64,
    /// Seconds of audio a cloud engine would be sent (speech and pauses).
    pub sent_seconds: f64,
    /// The local Whisper model.
    pub local_model: String,
    /// US dollars an hour of this worker.
    pub cost_per_hour: f64,
    /// Threads the local engine runs on.
    pub threads: usize,
    pub cloud: Vec<Cloud>,
    /// Cloud engines the tenant has a key for that cannot be used, and why.
    pub unusable: Vec<(Engine, String)>,
    pub budget_left: Option<f64>,
    pub at_budget: AtBudget,
    /// Speech longer than this goes to a cloud engine under `balanced`.
    pub long_speech: f64,
}

/// One engine to try.
#[derive(Clone, Debug, PartialEq)]
pub struct Pick {
    pub engine: Engine,
    pub model: String,
    pub estimate: f64,
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// In the order to try them; never empty.
    pub order: Vec<Pick>,
    pub considered: Vec<Considered>,
    pub reason: String,
    /// The job named its engine: no other runs.
    pub pinned: bool,
}

/// Why no engine may run.
#[derive(Debug, PartialEq)]
pub enum NoEngine {
    /// The budget is spent and the tenant chose `fail`.
    Budget(String),
    /// The budget is spent and the tenant chose `wait`.
    Wait(String),
    /// The engine the job named cannot be used.
    Unusable(String),
}

impl Ask {
    fn local(&self) -> Pick {
        let scale = 2.0 / self.threads.max(1) as f64;
        let cpu = self.speech_seconds * local_rtf(&self.local_model) * scale;
        Pick {
            engine: Engine::Local,
            model: self.local_model.clone(),
            estimate: cpu * self.cost_per_hour / 3600.0,
        }
    }

    fn cloud_pick(&self, c: &Cloud) -> Pick {
        Pick {
            engine: c.engine,
            model: c.model.clone(),
            estimate: self.sent_seconds / 60.0 * c.price_per_minute,
        }
    }

    fn fits(&self, p: &Pick) -> bool {
        self.budget_left.is_none_or(|left| p.estimate <= left)
    }
}

fn usd(x: f64) -> String {
    format!("${x:.4}")
}

/// Weighs the engines for `ask`.
pub fn plan(ask: &Ask) -> Result<Plan, NoEngine> {
    let mut all = vec![ask.local()];
    all.extend(ask.cloud.iter().map(|c| ask.cloud_pick(c)));
    all.sort_by(|a, b| a.estimate.total_cmp(&b.estimate));
    let mut considered: Vec<Considered> = all
        .iter()
        .map(|p| Considered {
            engine: p.engine,
            model: p.model.clone(),
            estimated_cost_usd: p.estimate,
            set_aside: (!ask.fits(p)).then(|| {
                format!(
                    "its estimate ({}) is over the budget left ({})",
                    usd(p.estimate),
                    usd(ask.budget_left.unwrap_or_default())
                )
            }),
        })
        .collect();
    for (engine, why) in &ask.unusable {
        considered.push(Considered {
            engine: *engine,
            model: String::new(),
            estimated_cost_usd: 0.0,
            set_aside: Some(why.clone()),
        });
    }
    let fitting: Vec<Pick> = all.iter().filter(|p| ask.fits(p)).cloned().collect();
    let cheapest = all[0].clone();
    // Nothing left at all; a job over what is left still runs, cheapest.
    let used_up = ask.budget_left.is_some_and(|left| left <= 0.0);
    let spent = |what: &str| -> Result<Plan, NoEngine> {
        match ask.at_budget {
            AtBudget::Fail => Err(NoEngine::Budget(format!(
                "{what}; the tenant's settings say jobs then fail (budget.at_limit: fail)"
            ))),
            AtBudget::Wait if used_up => Err(NoEngine::Wait(format!(
                "{what}; the tenant's settings say jobs then wait (budget.at_limit: wait)"
            ))),
            AtBudget::Cheapest | AtBudget::Wait => Ok(Plan {
                order: vec![cheapest.clone()],
                considered: considered
                    .iter()
                    .cloned()
                    .map(|mut c| {
                        if c.engine == cheapest.engine {
                            c.set_aside = None;
                        }
                        c
                    })
                    .collect(),
                reason: format!(
                    "{what}; the tenant's settings say to go on with the cheapest engine"
                ),
                pinned: false,
            }),
        }
    };

    if let Some(engine) = ask.choice.engine() {
        let named = all.iter().find(|p| p.engine == engine).cloned();
        let Some(named) = named else {
            let why = ask
                .unusable
                .iter()
                .find(|(e, _)| *e == engine)
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| {
                    format!(
                        "the {name} engine needs an API key: an admin sets \
                         transcription.cloud.{name}.api_key with PATCH /v1/tenant/settings",
                        name = engine.name()
                    )
                });
            return Err(NoEngine::Unusable(why));
        };
        if !ask.fits(&named) {
            return spent(&format!(
                "the job names {} but its estimate ({}) is over the budget left ({})",
                engine.name(),
                usd(named.estimate),
                usd(ask.budget_left.unwrap_or_default())
            ));
        }
        for c in &mut considered {
            if c.engine != engine && c.set_aside.is_none() {
                c.set_aside = Some("the job names another engine".into());
            }
        }
        return Ok(Plan {
            order: vec![named],
            considered,
            reason: format!("the job names {}", engine.name()),
            pinned: true,
        });
    }

    if fitting.is_empty() {
        return spent(&format!(
            "no engine's estimate fits the budget left ({})",
            usd(ask.budget_left.unwrap_or_default())
        ));
    }
    let cheapest_cloud = fitting.iter().find(|p| p.engine != Engine::Local).cloned();
    let local = fitting.iter().find(|p| p.engine == Engine::Local).cloned();
    let long = ask.speech_seconds > ask.long_speech;
    let (first, reason) = match (ask.tier, cheapest_cloud, local) {
        (Tier::Fast, _, _) => (
            fitting[0].clone(),
            "the fast tier takes the cheapest engine".to_owned(),
        ),
        (Tier::Accurate, Some(cloud), _) => (
            cloud,
            "the accurate tier takes the cheapest cloud engine the budget allows".to_owned(),
        ),
        (Tier::Balanced, Some(cloud), _) if long => (
            cloud,
            format!(
                "{:.0} s of speech is over the {:.0} s the balanced tier keeps local; the cheapest \
                 cloud engine takes it",
                ask.speech_seconds, ask.long_speech
            ),
        ),
        (_, _, Some(local)) => (
            local,
            if ask.cloud.is_empty() {
                "the tenant has no cloud engine; the worker transcribes".to_owned()
            } else {
                "the worker transcribes it for less than a cloud engine would cost".to_owned()
            },
        ),
        (_, Some(cloud), None) => (cloud, "the only engine the budget allows".to_owned()),
        (_, None, None) => unreachable!("fitting is not empty"),
    };
    let mut order = vec![first.clone()];
    order.extend(fitting.into_iter().filter(|p| *p != first));
    for c in &mut considered {
        if c.engine != first.engine && c.set_aside.is_none() {
            c.set_aside = Some("kept to take over should the first fail".into());
        }
    }
    Ok(Plan {
        order,
        considered,
        reason,
        pinned: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(speech: f64) -> Ask {
        Ask {
            choice: EngineChoice::Auto,
            tier: Tier::Balanced,
            speech_seconds: speech,
            sent_seconds: speech * 1.1,
            local_model: "base".into(),
            cost_per_hour: 0.08,
            threads: 2,
            cloud: vec![
                Cloud {
                    engine: Engine::Deepgram,
                    model: "nova-3".into(),
                    price_per_minute: 0.0043,
                },
                Cloud {
                    engine: Engine::Openai,
                    model: "whisper-large-v3-turbo".into(),
                    price_per_minute: 0.04 / 60.0,
                },
            ],
            unusable: Vec::new(),
            budget_left: None,
            at_budget: AtBudget::Cheapest,
            long_speech: 1800.0,
        }
    }

    fn engines(p: &Plan) -> Vec<Engine> {
        p.order.iter().map(|p| p.engine).collect()
    }

    #[test]
    fn balanced_keeps_short_speech_local_and_sends_long_speech_to_the_cheapest_cloud() {
        let short = plan(&ask(600.0)).unwrap();
        assert_eq!(
            engines(&short),
            [Engine::Local, Engine::Openai, Engine::Deepgram]
        );
        let long = plan(&ask(3.0 * 3600.0)).unwrap();
        assert_eq!(long.order[0].engine, Engine::Openai, "{}", long.reason);
        assert!(long.reason.contains("over the 1800 s"), "{}", long.reason);
        // Without cloud engines everything stays local.
        let mut alone = ask(3.0 * 3600.0);
        alone.cloud.clear();
        assert_eq!(engines(&plan(&alone).unwrap()), [Engine::Local]);
    }

    #[test]
    fn tiers_choose_by_price_and_accuracy() {
        let mut a = ask(600.0);
        a.tier = Tier::Fast;
        // 600 s of base at 0.08 s/s is 48 s of a $0.08/h worker: $0.001,
        // under Groq-priced turbo's 11 min x $0.00067 = $0.0073.
        assert_eq!(plan(&a).unwrap().order[0].engine, Engine::Local);
        a.tier = Tier::Accurate;
        assert_eq!(plan(&a).unwrap().order[0].engine, Engine::Openai);
    }

    #[test]
    fn a_small_budget_routes_long_speech_to_the_cheapest_engine() {
        let mut a = ask(3.0 * 3600.0);
        a.budget_left = Some(0.01);
        let p = plan(&a).unwrap();
        assert_eq!(engines(&p), [Engine::Local]);
        // Even the local engine's estimate ($0.019) is over $0.01: the
        // tenant's `cheapest` lets it run anyway, and the report says why.
        assert!(p.reason.contains("cheapest engine"), "{}", p.reason);
        let aside: Vec<_> = p
            .considered
            .iter()
            .filter(|c| c.set_aside.as_deref().is_some_and(|w| w.contains("budget")))
            .map(|c| c.engine)
            .collect();
        assert_eq!(aside, [Engine::Openai, Engine::Deepgram]);
        // Spent: `fail` refuses, `cheapest` goes on with the cheapest.
        a.budget_left = Some(0.0);
        assert_eq!(engines(&plan(&a).unwrap()), [Engine::Local]);
        a.at_budget = AtBudget::Fail;
        assert!(matches!(plan(&a), Err(NoEngine::Budget(_))));
        // `wait` waits once nothing is left, and runs the cheapest while
        // something is (a job over it would otherwise wait for ever).
        a.at_budget = AtBudget::Wait;
        assert!(matches!(plan(&a), Err(NoEngine::Wait(w)) if w.contains("at_limit: wait")));
        a.budget_left = Some(0.01);
        assert_eq!(engines(&plan(&a).unwrap()), [Engine::Local]);
    }

    #[test]
    fn a_named_engine_is_pinned_or_refused() {
        let mut a = ask(60.0);
        a.choice = EngineChoice::Deepgram;
        let p = plan(&a).unwrap();
        assert!(p.pinned);
        assert_eq!(engines(&p), [Engine::Deepgram]);
        a.choice = EngineChoice::Assemblyai;
        assert!(matches!(plan(&a), Err(NoEngine::Unusable(w)) if w.contains("assemblyai.api_key")));
        a.unusable = vec![(Engine::Assemblyai, "the stored key does not open".into())];
        assert_eq!(
            plan(&a).unwrap_err(),
            NoEngine::Unusable("the stored key does not open".into())
        );
    }
}

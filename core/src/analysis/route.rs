//! Which provider analyses a job that asks for `auto`: chosen from the
//! job's quality tier, what is set up (the worker's local model, the
//! tenant's cloud endpoints), the transcript's length and what is left of
//! the tenant's budget. Pure: the worker gathers the facts, this decides,
//! and the decision goes into `analysis.json` as [`AnalysisRoute`].
//!
//! - `fast`: builtin (no model to wait for).
//! - `balanced` (the default): the local model, else the cheapest cloud
//!   endpoint the budget allows, else builtin.
//! - `accurate`: the cheapest cloud endpoint the budget allows (a cloud
//!   model writes better than a small local one), else the local model,
//!   else builtin.

use serde::{Deserialize, Serialize};

use super::Provider;
use crate::speech::Tier;

/// Tokens of instructions and schema a request carries besides the
/// transcript, and of answer per request, for the estimate.
const PROMPT_OVERHEAD_TOKENS: f64 = 700.0;
const ANSWER_TOKENS: f64 = 500.0;
/// Tokens per transcript word (English prose through a BPE tokenizer).
const TOKENS_PER_WORD: f64 = 1.35;

/// A cloud endpoint the tenant has set up, with its prices (US dollars per
/// million tokens; unset: not counted).
#[derive(Clone, Debug)]
pub struct CloudLlm {
    pub provider: Provider,
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
}

/// The facts the router decides from.
#[derive(Clone, Debug)]
pub struct Ask {
    pub tier: Tier,
    /// Words in the transcript.
    pub words: usize,
    /// Requests the analysis makes (chunks, plus one for the summary when
    /// there are several).
    pub requests: usize,
    /// Whether this worker has a local model running.
    pub local: bool,
    /// The tenant's usable cloud endpoints.
    pub cloud: Vec<CloudLlm>,
    /// Why each of the tenant's other cloud endpoints cannot be used.
    pub unusable: Vec<(Provider, String)>,
    /// What is left of the tenant's monthly budget; `None` without one.
    pub budget_left: Option<f64>,
}

/// One provider the router weighed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsideredProvider {
    pub provider: Provider,
    /// US dollars, before it ran (a local model's time is the worker's
    /// and is counted with the stage).
    pub estimated_cost_usd: f64,
    /// Why it was not chosen; `None` for the chosen one.
    pub set_aside: Option<String>,
}

/// Why a job's analysis came from the provider it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnalysisRoute {
    pub tier: Tier,
    pub considered: Vec<ConsideredProvider>,
    pub chosen: Provider,
    /// Why, in a sentence.
    pub reason: String,
}

/// What `requests` requests over `words` words of transcript cost at
/// `cloud`'s prices.
pub fn estimate(cloud: &CloudLlm, words: usize, requests: usize) -> f64 {
    let requests = requests.max(1) as f64;
    let prompt = words as f64 * TOKENS_PER_WORD * 1.1 + PROMPT_OVERHEAD_TOKENS * requests;
    let answer = ANSWER_TOKENS * requests;
    (prompt * cloud.input_price.unwrap_or(0.0) + answer * cloud.output_price.unwrap_or(0.0)) / 1e6
}

/// The provider for `ask`, and why.
pub fn choose(ask: &Ask) -> AnalysisRoute {
    let mut considered: Vec<ConsideredProvider> = Vec::new();
    // The cloud endpoints the budget allows, cheapest first.
    let mut affordable: Vec<(Provider, f64)> = Vec::new();
    for c in &ask.cloud {
        let cost = estimate(c, ask.words, ask.requests);
        match ask.budget_left {
            Some(left) if cost > left => considered.push(ConsideredProvider {
                provider: c.provider,
                estimated_cost_usd: cost,
                set_aside: Some(format!(
                    "its estimated ${cost:.4} is more than the ${left:.4} left of the budget"
                )),
            }),
            _ => affordable.push((c.provider, cost)),
        }
    }
    affordable.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (provider, why) in &ask.unusable {
        considered.push(ConsideredProvider {
            provider: *provider,
            estimated_cost_usd: 0.0,
            set_aside: Some(why.clone()),
        });
    }
    let cloud = affordable.first().copied();
    let (chosen, reason) = if ask.words == 0 {
        (
            Provider::Builtin,
            "nothing was said, so there is nothing for a model to write".to_owned(),
        )
    } else {
        match ask.tier {
            Tier::Fast => (
                Provider::Builtin,
                "the fast tier does not wait for a language model".to_owned(),
            ),
            Tier::Balanced => match (ask.local, cloud) {
                (true, _) => (
                    Provider::Local,
                    "the balanced tier uses the worker's own model when it runs one".to_owned(),
                ),
                (false, Some((p, _))) => (
                    p,
                    format!(
                        "no local model runs on this worker; {} is the cheapest endpoint the \
                         budget allows",
                        p.name()
                    ),
                ),
                (false, None) => (
                    Provider::Builtin,
                    "no local model runs on this worker and no cloud endpoint is set up within \
                     the budget"
                        .to_owned(),
                ),
            },
            Tier::Accurate => match (cloud, ask.local) {
                (Some((p, _)), _) => (
                    p,
                    format!(
                        "the accurate tier prefers a cloud model; {} is the cheapest the budget \
                         allows",
                        p.name()
                    ),
                ),
                (None, true) => (
                    Provider::Local,
                    "no cloud endpoint is set up within the budget; the worker's own model \
                     writes"
                        .to_owned(),
                ),
                (None, false) => (
                    Provider::Builtin,
                    "no cloud endpoint within the budget and no local model".to_owned(),
                ),
            },
        }
    };
    for (provider, cost) in &affordable {
        considered.push(ConsideredProvider {
            provider: *provider,
            estimated_cost_usd: *cost,
            set_aside: (*provider != chosen).then(|| "not the tier's pick".to_owned()),
        });
    }
    considered.push(ConsideredProvider {
        provider: Provider::Local,
        estimated_cost_usd: 0.0,
        set_aside: match (ask.local, chosen) {
            (false, _) => Some("no local model runs on this worker".to_owned()),
            (true, Provider::Local) => None,
            (true, _) => Some("not the tier's pick".to_owned()),
        },
    });
    considered.push(ConsideredProvider {
        provider: Provider::Builtin,
        estimated_cost_usd: 0.0,
        set_aside: (chosen != Provider::Builtin).then(|| "a model writes better".to_owned()),
    });
    AnalysisRoute {
        tier: ask.tier,
        considered,
        chosen,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(tier: Tier, local: bool, cloud: Vec<CloudLlm>, budget_left: Option<f64>) -> Ask {
        Ask {
            tier,
            words: 9_000,
            requests: 7,
            local,
            cloud,
            unusable: vec![(
                Provider::Gemini,
                "the gemini provider needs an API key".into(),
            )],
            budget_left,
        }
    }

    fn openai(input: f64, output: f64) -> CloudLlm {
        CloudLlm {
            provider: Provider::Openai,
            input_price: Some(input),
            output_price: Some(output),
        }
    }

    #[test]
    fn the_tier_what_is_set_up_and_the_budget_decide() {
        let cloud = || vec![openai(0.3, 2.5)];
        assert_eq!(
            choose(&ask(Tier::Fast, true, cloud(), None)).chosen,
            Provider::Builtin
        );
        assert_eq!(
            choose(&ask(Tier::Balanced, true, cloud(), None)).chosen,
            Provider::Local
        );
        assert_eq!(
            choose(&ask(Tier::Balanced, false, cloud(), None)).chosen,
            Provider::Openai
        );
        assert_eq!(
            choose(&ask(Tier::Balanced, false, vec![], None)).chosen,
            Provider::Builtin
        );
        assert_eq!(
            choose(&ask(Tier::Accurate, true, cloud(), None)).chosen,
            Provider::Openai
        );
        // Over the budget: the local model, and why the cloud was not.
        let r = choose(&ask(Tier::Accurate, true, cloud(), Some(0.001)));
        assert_eq!(r.chosen, Provider::Local, "{r:?}");
        let set_aside = r
            .considered
            .iter()
            .find(|c| c.provider == Provider::Openai)
            .and_then(|c| c.set_aside.clone())
            .unwrap();
        assert!(set_aside.contains("budget"), "{set_aside}");
        // Every provider is accounted for, the chosen one without a reason.
        assert!(r.considered.iter().any(|c| c.provider == Provider::Gemini));
        let chosen: Vec<_> = r
            .considered
            .iter()
            .filter(|c| c.set_aside.is_none())
            .collect();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].provider, Provider::Local);
        // Nothing said: builtin, whatever the tier.
        let mut silent = ask(Tier::Accurate, true, cloud(), None);
        silent.words = 0;
        assert_eq!(choose(&silent).chosen, Provider::Builtin);
    }

    #[test]
    fn the_estimate_grows_with_the_transcript_and_its_prices() {
        let c = openai(0.3, 2.5);
        let short = estimate(&c, 1_500, 1);
        let long = estimate(&c, 90_000, 10);
        assert!(short > 0.0 && long > 20.0 * short, "{short} {long}");
        // 9,000 words in 7 requests at $0.30/$2.50 a million: about 1.3 cents.
        let typical = estimate(&c, 9_000, 7);
        assert!((0.01..0.02).contains(&typical), "{typical}");
        let free = CloudLlm {
            provider: Provider::Openai,
            input_price: None,
            output_price: None,
        };
        assert_eq!(estimate(&free, 9_000, 7), 0.0);
    }
}

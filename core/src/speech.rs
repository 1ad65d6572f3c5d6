//! Who transcribes: the local engine (whisper.cpp on the worker) or a
//! tenant's cloud speech API (Deepgram, AssemblyAI, or any
//! OpenAI-compatible `/v1/audio/transcriptions`), chosen per job by the
//! router, and what each costs.
//!
//! A tenant stores its cloud keys in its settings (`transcription.cloud.deepgram`
//! and so on), sealed at rest like the LLM keys ([`crate::secrets`]). A job
//! asks for `engine: auto | local | deepgram | assemblyai | openai`
//! (default `auto`) and a quality tier; the worker's router
//! (`worker/src/speech/route.rs`) decides and records why
//! ([`RouteReport`]).
//!
//! Cost is in US dollars. A cloud engine costs its price per minute of the
//! audio sent (its list price unless the tenant set its own, [`list_price`]);
//! the local engine costs the worker's time at the operator's price
//! (`CUTROOM_WORKER_COST_PER_HOUR`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    outbound,
    secrets::{self, KeyError, Sealer},
};

/// An engine a job may ask for; `auto` lets the router choose.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    #[default]
    Auto,
    Local,
    Deepgram,
    Assemblyai,
    Openai,
}

/// An engine that transcribes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// whisper.cpp on the worker.
    Local,
    /// Deepgram's pre-recorded API (`POST /v1/listen`).
    Deepgram,
    /// AssemblyAI (upload, `POST /v2/transcript`, poll).
    Assemblyai,
    /// An OpenAI-compatible `POST /v1/audio/transcriptions` (OpenAI, Groq
    /// and others).
    Openai,
}

impl Engine {
    pub const CLOUD: [Engine; 3] = [Engine::Deepgram, Engine::Assemblyai, Engine::Openai];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Local => "local",
            Engine::Deepgram => "deepgram",
            Engine::Assemblyai => "assemblyai",
            Engine::Openai => "openai",
        }
    }

    /// Where the engine's API is unless the tenant names another host.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Engine::Local => None,
            Engine::Deepgram => Some("https://api.deepgram.com"),
            Engine::Assemblyai => Some("https://api.assemblyai.com"),
            Engine::Openai => Some("https://api.openai.com"),
        }
    }

    /// The model asked for unless the tenant names another.
    pub fn default_model(self) -> Option<&'static str> {
        match self {
            Engine::Local => None,
            Engine::Deepgram => Some("nova-3"),
            Engine::Assemblyai => Some("universal"),
            Engine::Openai => Some("whisper-1"),
        }
    }
}

impl EngineChoice {
    /// The engine it names; `None` for `auto`.
    pub fn engine(self) -> Option<Engine> {
        match self {
            EngineChoice::Auto => None,
            EngineChoice::Local => Some(Engine::Local),
            EngineChoice::Deepgram => Some(Engine::Deepgram),
            EngineChoice::Assemblyai => Some(Engine::Assemblyai),
            EngineChoice::Openai => Some(Engine::Openai),
        }
    }
}

/// What matters most when the router chooses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The cheapest engine that can run it.
    Fast,
    /// Local for what the worker transcribes in reasonable time, the
    /// cheapest cloud engine for long recordings (the default).
    #[default]
    Balanced,
    /// A cloud engine when one is set up and the budget allows: their
    /// large models make fewer word errors than the local ones.
    Accurate,
}

/// What happens when a tenant's monthly budget is spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AtBudget {
    /// Jobs go on with the cheapest engine that can run them (the local
    /// one when the worker has its model).
    #[default]
    Cheapest,
    /// Jobs fail with `budget_exceeded` until the next month.
    Fail,
    /// Jobs wait in line (status `queued`, a `waiting_for_budget` event
    /// with `retry_at`) until the budget allows: looked at again every
    /// `CUTROOM_BUDGET_RECHECK_SECS` (default an hour) and when the month
    /// turns, so a raised budget lets them run at the next look.
    Wait,
}

/// List prices in US dollars per minute of audio, as each provider
/// published them for pay-as-you-go pre-recorded audio (Deepgram Nova-3
/// $0.0043; AssemblyAI Universal $0.15 an hour; OpenAI whisper-1 and
/// gpt-4o-transcribe $0.006, gpt-4o-mini-transcribe $0.003; Groq
/// whisper-large-v3 $0.111 an hour, -turbo $0.04). Prices change: a tenant
/// sets `price_per_minute` on an endpoint to use its own. A model not
/// listed gets its engine's first price.
pub fn list_price(engine: Engine, model: &str) -> Option<f64> {
    let table: &[(&str, f64)] = match engine {
        Engine::Local => return None,
        Engine::Deepgram => &[("nova-3", 0.0043), ("nova-2", 0.0043), ("enhanced", 0.0145)],
        Engine::Assemblyai => &[("universal", 0.0025), ("best", 0.0025), ("slam-1", 0.0045)],
        Engine::Openai => &[
            ("whisper-1", 0.006),
            ("gpt-4o-transcribe", 0.006),
            ("gpt-4o-mini-transcribe", 0.003),
            ("whisper-large-v3", 0.111 / 60.0),
            ("whisper-large-v3-turbo", 0.04 / 60.0),
        ],
    };
    Some(
        table
            .iter()
            .find(|(m, _)| *m == model)
            .unwrap_or(&table[0])
            .1,
    )
}

/// A tenant's cloud speech endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechEndpoint {
    /// `http(s)://host[:port]`, without the API's own path. Unset: the
    /// provider's own (`https://api.deepgram.com` and so on).
    #[schema(example = "https://api.groq.com/openai")]
    pub base_url: Option<String>,
    /// Unset: `nova-3`, `universal` or `whisper-1`.
    #[schema(example = "whisper-large-v3-turbo")]
    pub model: Option<String>,
    /// Write-only: set it to store a key, `null` to remove it. Stored
    /// encrypted; never returned (see `api_key_hint`). An engine without
    /// a key is not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub api_key: Option<String>,
    /// The stored key's last four characters; set by the server.
    #[schema(read_only, example = "…x9Qe")]
    pub api_key_hint: Option<String>,
    /// US dollars per minute of audio sent. Unset: the model's list price.
    #[schema(example = 0.0043)]
    pub price_per_minute: Option<f64>,
    /// Seconds one request may take (5-3600, default 600).
    pub timeout_seconds: Option<u32>,
}

/// A tenant's monthly spending limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// US dollars a calendar month (UTC) for every job's recorded cost,
    /// local engines included. Unset: no limit.
    #[schema(example = 25.0)]
    pub monthly_usd: Option<f64>,
    /// What happens once it is spent (default `cheapest`).
    pub at_limit: AtBudget,
}

pub const DEFAULT_SPEECH_TIMEOUT_SECONDS: u32 = 600;

/// The cloud endpoints of a tenant's transcription settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechEndpoints {
    pub deepgram: SpeechEndpoint,
    pub assemblyai: SpeechEndpoint,
    pub openai: SpeechEndpoint,
}

/// What the worker needs to call a cloud engine, key opened.
#[derive(Clone, Debug)]
pub struct ResolvedSpeech {
    pub engine: Engine,
    pub base_url: String,
    pub model: String,
    pub api_key: secrecy::SecretString,
    pub price_per_minute: f64,
    pub timeout_seconds: u32,
}

impl SpeechEndpoints {
    pub fn get(&self, engine: Engine) -> Option<&SpeechEndpoint> {
        match engine {
            Engine::Local => None,
            Engine::Deepgram => Some(&self.deepgram),
            Engine::Assemblyai => Some(&self.assemblyai),
            Engine::Openai => Some(&self.openai),
        }
    }

    fn get_mut(&mut self, engine: Engine) -> Option<&mut SpeechEndpoint> {
        match engine {
            Engine::Local => None,
            Engine::Deepgram => Some(&mut self.deepgram),
            Engine::Assemblyai => Some(&mut self.assemblyai),
            Engine::Openai => Some(&mut self.openai),
        }
    }

    /// Range and shape checks; `field` is where the endpoints sit in the
    /// settings (`transcription.cloud`).
    pub fn validate(&self, field: &str) -> Result<(), String> {
        for engine in Engine::CLOUD {
            let e = self.get(engine).expect("a cloud engine");
            let at = format!("{field}.{}", engine.name());
            if let Some(url) = &e.base_url {
                outbound::check_base_url(&format!("{at}.base_url"), url)?;
            }
            if let Some(model) = &e.model {
                crate::analysis::check_model(crate::analysis::Provider::Openai, model)
                    .map_err(|why| format!("{at}.model {why}"))?;
            }
            if e.api_key.as_ref().is_some_and(|k| k.trim().is_empty()) {
                return Err(format!(
                    "{at}.api_key must not be empty (null removes the stored key)"
                ));
            }
            if e.price_per_minute
                .is_some_and(|p| !(0.0..=100.0).contains(&p))
            {
                return Err(format!(
                    "{at}.price_per_minute must be between 0 and 100 (USD per audio minute)"
                ));
            }
            if let Some(t) = e.timeout_seconds
                && !(5..=3600).contains(&t)
            {
                return Err(format!("{at}.timeout_seconds must be between 5 and 3600"));
            }
        }
        Ok(())
    }

    /// Refuses endpoints the workers must not call, as
    /// [`crate::analysis::TenantAnalysisSettings::check_endpoints`] does
    /// for LLMs (same operator lists). The providers' own hosts are always
    /// allowed.
    pub fn check_endpoints(
        &self,
        allowed: Option<&BTreeSet<String>>,
        private: &BTreeSet<String>,
    ) -> Result<(), String> {
        for engine in Engine::CLOUD {
            let e = self.get(engine).expect("a cloud engine");
            let Some(url) = &e.base_url else { continue };
            let at = format!("transcription.cloud.{}.base_url", engine.name());
            let own = Engine::CLOUD
                .iter()
                .filter_map(|e| e.default_base_url())
                .any(|d| same_url(d, url));
            let listed = own || crate::analysis::host_allowed(url, allowed);
            outbound::check_api_endpoint(&at, url, listed, private)?;
        }
        Ok(())
    }

    /// Seals keys given in plain text, as
    /// [`crate::analysis::TenantAnalysisSettings::seal_keys`] does.
    pub fn seal_keys(
        &mut self,
        previous: &SpeechEndpoints,
        sealer: &Sealer,
        tenant_id: uuid::Uuid,
    ) -> Result<(), KeyError> {
        for engine in Engine::CLOUD {
            let before = previous.get(engine).expect("a cloud engine");
            let same = destination(engine, self.get(engine).expect("a cloud engine"))
                == destination(engine, before);
            let e = self.get_mut(engine).expect("a cloud engine");
            secrets::seal_key(
                &mut e.api_key,
                &mut e.api_key_hint,
                (before.api_key.as_deref(), before.api_key_hint.as_deref()),
                same,
                &format!("transcription.cloud.{}.api_key", engine.name()),
                sealer,
                tenant_id,
            )?;
        }
        Ok(())
    }

    /// The settings as the API shows them: no keys, sealed or not.
    pub fn redact(&mut self) {
        for engine in Engine::CLOUD {
            self.get_mut(engine).expect("a cloud engine").api_key = None;
        }
    }

    /// The cloud engines this tenant has a key for.
    pub fn configured(&self) -> Vec<Engine> {
        Engine::CLOUD
            .into_iter()
            .filter(|e| self.get(*e).is_some_and(|s| s.api_key.is_some()))
            .collect()
    }

    /// `engine`'s endpoint, key opened; `Err` says why it cannot be used.
    pub fn resolve(
        &self,
        engine: Engine,
        sealer: &Sealer,
        tenant_id: uuid::Uuid,
    ) -> Result<ResolvedSpeech, String> {
        let e = self
            .get(engine)
            .ok_or_else(|| "the local engine has no endpoint".to_owned())?;
        let Some(sealed) = &e.api_key else {
            return Err(format!(
                "the {name} engine needs an API key: an admin sets transcription.cloud.{name}.api_key \
                 with PATCH /v1/tenant/settings",
                name = engine.name()
            ));
        };
        let api_key = sealer.open(tenant_id, sealed).map_err(|err| {
            format!(
                "the stored {} API key cannot be used ({err}); an admin sets it again",
                engine.name()
            )
        })?;
        let model = e
            .model
            .clone()
            .or_else(|| engine.default_model().map(str::to_owned))
            .unwrap_or_default();
        let price_per_minute = e
            .price_per_minute
            .or_else(|| list_price(engine, &model))
            .unwrap_or_default();
        Ok(ResolvedSpeech {
            engine,
            base_url: destination(engine, e).unwrap_or_default(),
            model,
            api_key,
            price_per_minute,
            timeout_seconds: e.timeout_seconds.unwrap_or(DEFAULT_SPEECH_TIMEOUT_SECONDS),
        })
    }
}

/// Where requests of `engine` go: the tenant's URL or the provider's.
fn destination(engine: Engine, e: &SpeechEndpoint) -> Option<String> {
    let url = e.base_url.as_deref().or(engine.default_base_url())?;
    Some(url.trim().trim_end_matches('/').to_ascii_lowercase())
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}

/// Whether the job's cost fits: what is left of a monthly budget after
/// `spent`; `None` without a budget.
pub fn budget_left(budget: &Budget, spent: f64) -> Option<f64> {
    budget.monthly_usd.map(|b| (b - spent).max(0.0))
}

/// One engine the router weighed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Considered {
    pub engine: Engine,
    pub model: String,
    /// US dollars, before it ran.
    pub estimated_cost_usd: f64,
    /// Why it was not the first choice's equal (not set up, over budget,
    /// not the tier's pick); `None` for the chosen engine.
    pub set_aside: Option<String>,
}

/// One engine that was tried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EngineAttempt {
    pub engine: Engine,
    pub model: String,
    /// `ok`, or the error's class: `key_refused`, `quota`, `too_large`,
    /// `rate_limited`, `server_error`, `network`, `timeout`, `malformed`,
    /// `refused_url`, `failed`.
    pub outcome: String,
    /// What went wrong, in a sentence.
    pub error: Option<String>,
    /// Requests made to it (retries included; 0 for the local engine).
    pub requests: u32,
    pub seconds: f64,
    /// US dollars it cost.
    pub cost_usd: f64,
}

/// Why the transcript came from the engine it came from: recorded with the
/// job's transcription usage (`GET /v1/jobs/{id}/cost`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RouteReport {
    /// What the job asked for.
    pub requested: EngineChoice,
    pub tier: Tier,
    /// Seconds of speech the VAD found: what was transcribed.
    pub speech_seconds: f64,
    /// What was left of the tenant's monthly budget, when it has one.
    pub budget_left_usd: Option<f64>,
    pub considered: Vec<Considered>,
    /// The engine whose transcript the job has.
    pub chosen: Engine,
    pub model: String,
    /// Why the first engine tried was chosen, in a sentence.
    pub reason: String,
    pub estimated_cost_usd: f64,
    /// What every attempt cost together.
    pub actual_cost_usd: f64,
    /// Every engine tried, in order; all but the last failed.
    pub attempts: Vec<EngineAttempt>,
}

/// A job's cost in a sentence: `this job cost $0.0042 (local tiny.en,
/// 31 s of CPU)`, naming the engine that transcribed and, when others
/// failed first, how many.
pub fn summary(cost_usd: f64, route: Option<&RouteReport>) -> String {
    let mut s = format!("this job cost ${cost_usd:.4}");
    if let Some(r) = route {
        let ok = r.attempts.iter().rev().find(|a| a.outcome == "ok");
        let what = match (r.chosen, ok) {
            (Engine::Local, Some(a)) => format!("local {}, {:.0} s of CPU", r.model, a.seconds),
            (Engine::Local, None) => format!("local {}", r.model),
            (engine, _) => format!("{} {}", engine.name(), r.model),
        };
        let failed = r.attempts.iter().filter(|a| a.outcome != "ok").count();
        if failed > 0 {
            let engines = if failed == 1 { "engine" } else { "engines" };
            s.push_str(&format!(" ({what}, after {failed} {engines} failed)"));
        } else {
            s.push_str(&format!(" ({what})"));
        }
    }
    s
}

#[cfg(test)]
#[path = "speech_tests.rs"]
mod tests;

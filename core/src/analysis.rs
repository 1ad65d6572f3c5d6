//! Which provider analyses a tenant's jobs, and how the worker reaches it.
//!
//! A tenant chooses a default provider in its settings (`analysis`), a job
//! may choose another (`options.analysis.provider`). The LLM providers need
//! an endpoint in the tenant's settings; their API keys are sealed at rest
//! ([`crate::secrets`]) and never returned.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use crate::secrets::KeyError;
use crate::{
    outbound,
    secrets::{self, Sealer},
};

/// `builtin` needs no network; `local` is the language model the operator
/// runs beside the workers (a llama-server Cutroom starts itself, or one
/// at `CUTROOM_LOCAL_LLM_URL`): builtin's chapters and highlights, worded
/// by the model; `gemini` is Google's Generative Language API; `openai` is
/// any OpenAI-compatible chat completions endpoint of the tenant's
/// (llama.cpp's llama-server, vLLM, Ollama, OpenAI); `auto` lets the router
/// choose among them by the job's tier, what is set up and the budget.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Builtin,
    Local,
    Gemini,
    Openai,
    Auto,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Builtin => "builtin",
            Provider::Local => "local",
            Provider::Gemini => "gemini",
            Provider::Openai => "openai",
            Provider::Auto => "auto",
        }
    }

    /// Whether a language model writes (any but `builtin`; `auto` may).
    pub fn is_llm(self) -> bool {
        !matches!(self, Provider::Builtin | Provider::Auto)
    }
}

pub mod route;

pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
pub const GEMINI_MODEL: &str = "gemini-2.5-flash";
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 4;
pub const DEFAULT_CHUNK_SECONDS: u32 = 600;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 60;

/// The tenant's analysis settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantAnalysisSettings {
    /// The provider of this tenant's jobs that choose none. Unset: `builtin`.
    pub provider: Option<Provider>,
    /// Google's Generative Language API. Needs `api_key`; `base_url`
    /// defaults to Google's, `model` to `gemini-2.5-flash`.
    pub gemini: LlmEndpoint,
    /// An OpenAI-compatible endpoint. Needs `base_url` (without `/v1`) and
    /// `model`; `api_key` if the endpoint wants one.
    pub openai: LlmEndpoint,
    /// Requests one job keeps in flight at most (1-16, default 4).
    #[schema(example = 4)]
    pub max_in_flight: Option<u32>,
    /// Seconds of transcript per request (120-3600, default 600). Longer
    /// transcripts are split into chunks that overlap by a tenth.
    #[schema(example = 600)]
    pub chunk_seconds: Option<u32>,
}

/// One LLM endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LlmEndpoint {
    /// `http(s)://host[:port]`, without the API's own path.
    #[schema(example = "http://llama:8080")]
    pub base_url: Option<String>,
    #[schema(example = "gemini-2.5-flash")]
    pub model: Option<String>,
    /// Write-only: set it to store a key, `null` to remove it. Stored
    /// encrypted; never returned (see `api_key_hint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(write_only)]
    pub api_key: Option<String>,
    /// The stored key's last four characters; set by the server.
    #[schema(read_only, example = "…x9Qe")]
    pub api_key_hint: Option<String>,
    /// US dollars per million prompt tokens, for the job's cost. Unset:
    /// the cost is not computed.
    #[schema(example = 0.3)]
    pub input_price: Option<f64>,
    /// US dollars per million completion tokens.
    #[schema(example = 2.5)]
    pub output_price: Option<f64>,
    /// Seconds one request may take (5-600, default 60).
    pub timeout_seconds: Option<u32>,
}

/// What the worker needs to call an endpoint, key opened.
#[derive(Clone, Debug)]
pub struct ResolvedEndpoint {
    pub provider: Provider,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<secrecy::SecretString>,
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub timeout_seconds: u32,
    pub max_in_flight: u32,
    pub chunk_seconds: u32,
}

impl TenantAnalysisSettings {
    pub fn endpoint(&self, provider: Provider) -> Option<&LlmEndpoint> {
        match provider {
            Provider::Builtin | Provider::Local | Provider::Auto => None,
            Provider::Gemini => Some(&self.gemini),
            Provider::Openai => Some(&self.openai),
        }
    }

    fn endpoint_mut(&mut self, provider: Provider) -> Option<&mut LlmEndpoint> {
        match provider {
            Provider::Builtin | Provider::Local | Provider::Auto => None,
            Provider::Gemini => Some(&mut self.gemini),
            Provider::Openai => Some(&mut self.openai),
        }
    }

    pub fn validate(&self, field: &str) -> Result<(), String> {
        if let Some(n) = self.max_in_flight
            && !(1..=16).contains(&n)
        {
            return Err(format!("{field}.max_in_flight must be between 1 and 16"));
        }
        if let Some(n) = self.chunk_seconds
            && !(120..=3600).contains(&n)
        {
            return Err(format!(
                "{field}.chunk_seconds must be between 120 and 3600"
            ));
        }
        for provider in [Provider::Gemini, Provider::Openai] {
            let e = self.endpoint(provider).expect("an LLM provider");
            let at = format!("{field}.{}", provider.name());
            if let Some(url) = &e.base_url {
                outbound::check_base_url(&format!("{at}.base_url"), url)?;
            }
            if e.model.as_ref().is_some_and(|m| m.trim().is_empty()) {
                return Err(format!("{at}.model must not be empty"));
            }
            if e.api_key.as_ref().is_some_and(|k| k.trim().is_empty()) {
                return Err(format!(
                    "{at}.api_key must not be empty (null removes the stored key)"
                ));
            }
            for (name, price) in [
                ("input_price", e.input_price),
                ("output_price", e.output_price),
            ] {
                if price.is_some_and(|p| !(0.0..=10_000.0).contains(&p)) {
                    return Err(format!(
                        "{at}.{name} must be between 0 and 10000 (USD per million tokens)"
                    ));
                }
            }
            if let Some(t) = e.timeout_seconds
                && !(5..=600).contains(&t)
            {
                return Err(format!("{at}.timeout_seconds must be between 5 and 600"));
            }
        }
        Ok(())
    }

    /// Refuses endpoints the workers must not call: hosts outside the
    /// operator's list (`allowed`: `CUTROOM_LLM_HOSTS`, `host` or
    /// `host:port`; `None`: any host, Google's API always), internal
    /// addresses unless in `private` (`CUTROOM_LLM_PRIVATE_HOSTS`), and
    /// model names that could steer the request's path. Checked at save and
    /// again when a job uses the endpoint.
    pub fn check_endpoints(
        &self,
        allowed: Option<&BTreeSet<String>>,
        private: &BTreeSet<String>,
    ) -> Result<(), String> {
        for provider in [Provider::Gemini, Provider::Openai] {
            let e = self.endpoint(provider).expect("an LLM provider");
            let at = format!("analysis.{}", provider.name());
            if let Some(url) = &e.base_url {
                let listed = host_allowed(url, allowed);
                outbound::check_api_endpoint(&format!("{at}.base_url"), url, listed, private)?;
            }
            if let Some(model) = &e.model {
                check_model(provider, model).map_err(|why| format!("{at}.model {why}"))?;
            }
        }
        Ok(())
    }

    /// Why a job of this tenant cannot use `provider`, if it cannot.
    pub fn unusable(&self, provider: Provider) -> Option<String> {
        match provider {
            Provider::Builtin | Provider::Local | Provider::Auto => None,
            Provider::Gemini if self.gemini.api_key.is_none() => Some(
                "the gemini provider needs an API key: an admin sets analysis.gemini.api_key \
                 with PATCH /v1/tenant/settings"
                    .into(),
            ),
            Provider::Openai if self.openai.base_url.is_none() || self.openai.model.is_none() => {
                Some(
                    "the openai provider needs an endpoint: an admin sets analysis.openai.base_url \
                     and analysis.openai.model with PATCH /v1/tenant/settings"
                        .into(),
                )
            }
            _ => None,
        }
    }

    /// Seals every API key given in plain text (after a settings change)
    /// and keeps the hints in step. A sealed value must be the one already
    /// stored: clients cannot set sealed values themselves. A stored key
    /// goes only where it was stored for: a change of the endpoint's URL
    /// must bring the key again (or remove it), else an admin could send
    /// the owner's key to a server of their own.
    pub fn seal_keys(
        &mut self,
        previous: &TenantAnalysisSettings,
        sealer: &Sealer,
        tenant_id: uuid::Uuid,
    ) -> Result<(), KeyError> {
        for provider in [Provider::Gemini, Provider::Openai] {
            let before = previous.endpoint(provider).expect("an LLM provider");
            let same = effective_url(provider, self.endpoint(provider).expect("an LLM provider"))
                == effective_url(provider, before);
            let e = self.endpoint_mut(provider).expect("an LLM provider");
            secrets::seal_key(
                &mut e.api_key,
                &mut e.api_key_hint,
                (before.api_key.as_deref(), before.api_key_hint.as_deref()),
                same,
                &format!("analysis.{}.api_key", provider.name()),
                sealer,
                tenant_id,
            )?;
        }
        Ok(())
    }

    /// The settings as the API shows them: no keys, sealed or not.
    pub fn redact(&mut self) {
        self.gemini.api_key = None;
        self.openai.api_key = None;
    }

    /// The endpoint of `provider`, key opened; `Err` says why it cannot be used.
    pub fn resolve(
        &self,
        provider: Provider,
        sealer: &Sealer,
        tenant_id: uuid::Uuid,
    ) -> Result<ResolvedEndpoint, String> {
        if let Some(why) = self.unusable(provider) {
            return Err(why);
        }
        let e = self.endpoint(provider).ok_or_else(|| {
            format!(
                "{} has no endpoint in the tenant's settings",
                provider.name()
            )
        })?;
        let api_key = match &e.api_key {
            Some(sealed) => Some(sealer.open(tenant_id, sealed).map_err(|err| {
                format!(
                    "the stored {} API key cannot be used ({err}); an admin sets it again",
                    provider.name()
                )
            })?),
            None => None,
        };
        let (base_url, model) = match provider {
            Provider::Gemini => (
                e.base_url.clone().unwrap_or_else(|| GEMINI_BASE_URL.into()),
                e.model.clone().unwrap_or_else(|| GEMINI_MODEL.into()),
            ),
            _ => (
                e.base_url.clone().unwrap_or_default(),
                e.model.clone().unwrap_or_default(),
            ),
        };
        check_model(provider, &model).map_err(|why| {
            format!(
                "analysis.{}.model {why}; an admin sets it again",
                provider.name()
            )
        })?;
        Ok(ResolvedEndpoint {
            provider,
            base_url,
            model,
            api_key,
            input_price: e.input_price,
            output_price: e.output_price,
            timeout_seconds: e.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            max_in_flight: self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            chunk_seconds: self.chunk_seconds.unwrap_or(DEFAULT_CHUNK_SECONDS),
        })
    }
}

/// Where requests of `provider` go, as far as its key is concerned.
fn effective_url(provider: Provider, e: &LlmEndpoint) -> Option<String> {
    let url = match (provider, &e.base_url) {
        (_, Some(url)) => url.as_str(),
        (Provider::Gemini, None) => GEMINI_BASE_URL,
        _ => return None,
    };
    Some(url.trim().trim_end_matches('/').to_ascii_lowercase())
}

/// Longest model name accepted.
pub const MAX_MODEL_LEN: usize = 200;

/// Refuses model names that could be more than a name: the Gemini model
/// goes into the request's path (`/v1beta/models/{model}:generateContent`),
/// so `..`, `/`, `?` or `#` would choose another path on the endpoint's
/// host; OpenAI-compatible models go in the body, but get the same
/// charset (`Qwen/Qwen2.5-0.5B-Instruct`, `qwen2.5:0.5b` are fine).
pub fn check_model(provider: Provider, model: &str) -> Result<(), String> {
    if model.is_empty() || model.len() > MAX_MODEL_LEN {
        return Err(format!("must be 1 to {MAX_MODEL_LEN} characters"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-' | '/');
    if !model.chars().all(allowed) {
        return Err("may hold only letters, digits and . _ : - /".into());
    }
    if model.contains("..")
        || model.starts_with('/')
        || model.ends_with('/')
        || model.contains("//")
    {
        return Err("must not hold `..` or empty path segments".into());
    }
    if provider == Provider::Gemini && model.contains('/') {
        return Err("is a Gemini model id without `/` (e.g. gemini-2.5-flash)".into());
    }
    Ok(())
}

/// Whether `base_url`'s `host` or `host:port` is in `allowed` (any when
/// `None`; Google's API always).
pub fn host_allowed(base_url: &str, allowed: Option<&BTreeSet<String>>) -> bool {
    let Some(allowed) = allowed else {
        return true;
    };
    let Ok(url) = url::Url::parse(base_url) else {
        return false;
    };
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return false;
    };
    let google = url::Url::parse(GEMINI_BASE_URL).expect("a valid URL");
    if url.scheme() == "https" && Some(host.as_str()) == google.host_str() {
        return true;
    }
    let with_port = url.port().map(|p| format!("{host}:{p}"));
    allowed.contains(&host) || with_port.is_some_and(|h| allowed.contains(&h))
}

#[cfg(test)]
mod tests {
    use secrecy::{ExposeSecret, SecretString};
    use uuid::Uuid;

    use super::*;
    use crate::secrets::SEALED_PREFIX;

    fn sealer() -> Sealer {
        Sealer::new(&SecretString::from("s".repeat(32)))
    }

    #[test]
    fn keys_are_sealed_kept_and_removed() {
        let tenant = Uuid::now_v7();
        let s = sealer();
        let mut set: TenantAnalysisSettings = serde_json::from_value(serde_json::json!({
            "provider": "gemini", "gemini": {"api_key": "AIza-key-0042"}
        }))
        .unwrap();
        set.seal_keys(&TenantAnalysisSettings::default(), &s, tenant)
            .unwrap();
        let sealed = set.gemini.api_key.clone().unwrap();
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert_eq!(set.gemini.api_key_hint.as_deref(), Some("…0042"));
        let resolved = set.resolve(Provider::Gemini, &s, tenant).unwrap();
        assert_eq!(resolved.api_key.unwrap().expose_secret(), "AIza-key-0042");
        assert_eq!(resolved.base_url, GEMINI_BASE_URL);
        assert_eq!(resolved.model, GEMINI_MODEL);

        // Unchanged: the stored value and hint stay.
        let mut same = set.clone();
        same.gemini.api_key_hint = Some("…forged".into());
        same.seal_keys(&set, &s, tenant).unwrap();
        assert_eq!(same.gemini.api_key.as_deref(), Some(sealed.as_str()));
        assert_eq!(same.gemini.api_key_hint.as_deref(), Some("…0042"));

        // A sealed value other than the stored one is refused.
        let mut forged = set.clone();
        forged.gemini.api_key = Some(s.seal(Uuid::now_v7(), "other"));
        assert!(forged.seal_keys(&set, &s, tenant).is_err());

        // Removed: no key, no hint, and the provider is unusable.
        let mut removed = set.clone();
        removed.gemini.api_key = None;
        removed.seal_keys(&set, &s, tenant).unwrap();
        assert_eq!(removed.gemini.api_key_hint, None);
        assert!(removed.unusable(Provider::Gemini).is_some());

        let mut shown = set.clone();
        shown.redact();
        let json = serde_json::to_string(&shown).unwrap();
        assert!(!json.contains("sealed") && !json.contains("AIza"), "{json}");
    }

    #[test]
    fn endpoints_are_checked() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<TenantAnalysisSettings>(v)
                .unwrap()
                .validate("analysis")
                .unwrap_err()
        };
        assert_eq!(
            bad(serde_json::json!({"openai": {"base_url": "ftp://x"}})),
            "analysis.openai.base_url must be an http or https URL"
        );
        assert_eq!(
            bad(serde_json::json!({"max_in_flight": 0})),
            "analysis.max_in_flight must be between 1 and 16"
        );
        assert!(bad(serde_json::json!({"gemini": {"input_price": -1}})).contains("input_price"));
        let openai: TenantAnalysisSettings = serde_json::from_value(
            serde_json::json!({"openai": {"base_url": "http://llama:8080"}}),
        )
        .unwrap();
        assert!(openai.validate("analysis").is_ok());
        assert!(openai.unusable(Provider::Openai).unwrap().contains("model"));
        assert_eq!(openai.unusable(Provider::Builtin), None);
    }

    #[test]
    fn the_server_can_limit_endpoint_hosts() {
        let allowed: BTreeSet<String> = ["llama:8080".into(), "api.openai.com".into()].into();
        let ok = |url: &str| host_allowed(url, Some(&allowed));
        assert!(ok("http://llama:8080"));
        assert!(!ok("http://llama:9090"), "another port");
        assert!(ok("https://API.openai.com/"));
        assert!(!ok("http://169.254.169.254"));
        assert!(ok(GEMINI_BASE_URL));
        assert!(
            !ok("http://generativelanguage.googleapis.com"),
            "Google over https only"
        );
        assert!(host_allowed("http://169.254.169.254", None));
        let none = BTreeSet::new();
        let settings: TenantAnalysisSettings = serde_json::from_value(
            serde_json::json!({"openai": {"base_url": "http://10.0.0.5:8080"}}),
        )
        .unwrap();
        assert!(
            settings
                .check_endpoints(Some(&allowed), &none)
                .unwrap_err()
                .starts_with("analysis.openai.base_url: this server does not allow")
        );
        // Internal addresses are refused with or without the list...
        let err = settings.check_endpoints(None, &none).unwrap_err();
        assert!(err.contains("CUTROOM_LLM_PRIVATE_HOSTS"), "{err}");
        // ...unless the operator lets that one in.
        let private: BTreeSet<String> = ["10.0.0.5:8080".into()].into();
        assert!(settings.check_endpoints(None, &private).is_ok());
        let public: TenantAnalysisSettings = serde_json::from_value(
            serde_json::json!({"openai": {"base_url": "https://api.openai.com"}}),
        )
        .unwrap();
        assert!(public.check_endpoints(None, &none).is_ok());
        assert!(public.check_endpoints(Some(&allowed), &none).is_ok());
    }

    #[test]
    fn model_names_are_names() {
        for bad in [
            "../../internal/admin#",
            "gemini-2.5-flash?alt=sse",
            "models/gemini-2.5-flash",
            "a b",
            "m%2e%2e",
            "",
        ] {
            assert!(check_model(Provider::Gemini, bad).is_err(), "{bad}");
        }
        for bad in ["../x", "a/../b", "/abs", "a//b", "m\n", "é"] {
            assert!(check_model(Provider::Openai, bad).is_err(), "{bad}");
        }
        assert!(check_model(Provider::Openai, &"m".repeat(MAX_MODEL_LEN + 1)).is_err());
        assert!(check_model(Provider::Gemini, "gemini-2.5-flash").is_ok());
        for good in [
            "Qwen/Qwen2.5-0.5B-Instruct",
            "qwen2.5:0.5b",
            "gpt-4o-mini",
            "smollm2-135m-instruct-q8_0.gguf",
        ] {
            assert!(check_model(Provider::Openai, good).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_stored_key_follows_its_url_only_when_given_again() {
        let tenant = Uuid::now_v7();
        let s = sealer();
        let mut stored: TenantAnalysisSettings = serde_json::from_value(serde_json::json!({
            "gemini": {"api_key": "AIza-owner-key"},
            "openai": {"base_url": "https://llm.example.org"}
        }))
        .unwrap();
        stored
            .seal_keys(&TenantAnalysisSettings::default(), &s, tenant)
            .unwrap();
        for url in [
            Some("https://attacker.example.net"),
            Some("https://generativelanguage.googleapis.com/x"),
        ] {
            let mut moved = stored.clone();
            moved.gemini.base_url = url.map(Into::into);
            assert!(
                matches!(
                    moved.seal_keys(&stored, &s, tenant),
                    Err(KeyError::Required(_))
                ),
                "{url:?}"
            );
        }
        // The same URL written differently is the same URL.
        let mut same = stored.clone();
        same.gemini.base_url = Some("https://generativelanguage.googleapis.com/".into());
        assert!(same.seal_keys(&stored, &s, tenant).is_ok());
        // A new key, or none, may go anywhere; so may a keyless endpoint.
        let mut rekeyed = stored.clone();
        rekeyed.gemini.base_url = Some("https://proxy.example.net".into());
        rekeyed.gemini.api_key = Some("AIza-new-key".into());
        assert!(rekeyed.seal_keys(&stored, &s, tenant).is_ok());
        let mut keyless = stored.clone();
        keyless.openai.base_url = Some("https://other.example.org".into());
        assert!(keyless.seal_keys(&stored, &s, tenant).is_ok());
    }
}

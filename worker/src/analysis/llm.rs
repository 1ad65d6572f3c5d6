//! The wire to an LLM: one JSON-schema-constrained completion over either
//! Google's Generative Language API (`gemini`) or any OpenAI-compatible
//! `/v1/chat/completions` endpoint (`openai`: llama.cpp's llama-server,
//! vLLM, Ollama, OpenAI). What a careful client does is here: a timeout per
//! request, retries with exponential backoff and full jitter on 429, 5xx,
//! timeouts and dropped connections, `Retry-After` honoured, and token
//! accounting. Parsing what the model wrote is the caller's (it validates
//! against its schema and may ask once for a repair).
//!
//! The endpoint is a tenant's URL, so requests go through the outbound
//! guard ([`cutroom_core::outbound`]): internal addresses only when the
//! operator listed them, no redirects (the key header stays with the
//! endpoint), replies read up to a cap, error bodies summarised (an
//! internal service's error page may hold its secrets), and every request
//! of one job within the job's deadline.

use std::{collections::BTreeSet, time::Duration};

use cutroom_core::{
    analysis::{Provider, check_model},
    outbound::{self, BodyError, Guarded},
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::Instant;

/// The largest reply read: a 10-minute chunk's answer is a few KiB.
const MAX_REPLY_BYTES: usize = 4 << 20;
/// Of an error reply, only this much is read (for its reason code).
const MAX_ERROR_BYTES: usize = 64 << 10;

/// Which API the endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    Gemini,
    OpenAi,
}

#[derive(Clone, Debug)]
pub(crate) struct LlmConfig {
    pub wire: Wire,
    /// `https://generativelanguage.googleapis.com` or `http://host:port`;
    /// the API's own path is added.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    /// Per request.
    pub timeout: Duration,
    /// Requests at most, the first included.
    pub max_attempts: u32,
    /// The first retry waits up to this; each later one up to twice as long.
    pub backoff: Duration,
    /// No wait (computed or `Retry-After`) is longer than this.
    pub max_wait: Duration,
    /// Tokens the model may write per answer, so a model that rambles
    /// (or loops) stops rather than running to the end of its context.
    pub max_output_tokens: u32,
    /// `host[:port]`s that may be called although internal
    /// (`CUTROOM_LLM_PRIVATE_HOSTS`).
    pub private_hosts: BTreeSet<String>,
    /// When the job's time for LLM requests runs out; `None`: never.
    pub deadline: Option<Deadline>,
}

/// The end of a job's time for LLM requests, all of them together.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub at: Instant,
    /// How long it was from the start, for the message.
    pub total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
        }
    }
}

impl LlmConfig {
    pub fn new(wire: Wire, base_url: &str, model: &str, api_key: Option<SecretString>) -> Self {
        Self {
            wire,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            timeout: Duration::from_secs(60),
            max_attempts: 4,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            max_output_tokens: 8192,
            private_hosts: BTreeSet::new(),
            deadline: None,
        }
    }
}

/// What the requests of one call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Usage {
    /// Every HTTP request made, retries included.
    pub requests: u32,
    /// Requests that repeated an earlier one after a timeout, 429 or 5xx.
    pub retries: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LlmError {
    /// A non-2xx answer. Its body is not kept: only a reason code the
    /// provider documents, when the body has one.
    #[error("the endpoint answered {}", status_line(.status, .reason))]
    Status {
        status: u16,
        reason: Option<&'static str>,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the endpoint: {0}")]
    Transport(String),
    /// The reply's envelope was not what the API documents, or the model's
    /// text was not JSON.
    #[error("unreadable reply: {0}")]
    Malformed(String),
    /// The outbound guard refused the endpoint's URL.
    #[error("the endpoint's URL is refused: {0}")]
    Refused(String),
    /// The job's time for LLM requests ran out.
    #[error("the server's deadline for a job's LLM requests ({0:?}) passed")]
    Deadline(Duration),
}

impl LlmError {
    fn retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Timeout(_) | LlmError::Transport(_) => true,
            LlmError::Malformed(_) | LlmError::Refused(_) | LlmError::Deadline(_) => false,
        }
    }
}

/// `404 Not Found`, with the provider's reason code when it gave a known
/// one; a redirect says it is not followed.
fn status_line(status: &u16, reason: &Option<&'static str>) -> String {
    let phrase = reqwest::StatusCode::from_u16(*status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut line = format!("{status} {phrase}").trim_end().to_owned();
    if let Some(reason) = reason {
        line.push_str(&format!(" ({reason})"));
    }
    if (300..400).contains(status) {
        line.push_str("; redirects are not followed");
    }
    line
}

/// Reason codes Google's and OpenAI's APIs (and llama-server, vLLM,
/// Ollama, which copy OpenAI's) put in their error bodies. Only these are
/// repeated; the rest of the body (free text, which an endpoint could fill
/// with anything) is not.
const KNOWN_REASONS: &[&str] = &[
    // Google's canonical codes (`error.status`) and reasons (`error.details[].reason`).
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "ABORTED",
    "ALREADY_EXISTS",
    "RESOURCE_EXHAUSTED",
    "CANCELLED",
    "DATA_LOSS",
    "UNKNOWN",
    "INTERNAL",
    "NOT_IMPLEMENTED",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "API_KEY_INVALID",
    "API_KEY_EXPIRED",
    "SERVICE_DISABLED",
    // OpenAI's `error.type` and `error.code`.
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "insufficient_quota",
    "invalid_api_key",
    "model_not_found",
    "context_length_exceeded",
    "rate_limit_exceeded",
    "unavailable_error",
    "exceed_context_size_error",
];

/// The first known reason code in an error body.
fn known_reason(body: &[u8]) -> Option<&'static str> {
    let body: Value = serde_json::from_slice(body).ok()?;
    let error = body.get("error")?;
    let mut candidates = vec![error.get("status"), error.get("type"), error.get("code")];
    if let Some(details) = error.get("details").and_then(Value::as_array) {
        candidates.extend(details.iter().map(|d| d.get("reason")));
    }
    candidates
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|c| KNOWN_REASONS.iter().find(|k| **k == c).copied())
}

/// A call's outcome: the model's JSON, or the last error; with the usage
/// of every request made either way.
pub(crate) struct Reply {
    pub result: Result<Value, LlmError>,
    pub usage: Usage,
}

pub(crate) struct LlmClient {
    config: LlmConfig,
    http: Guarded,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Self {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("Cutroom/", env!("CARGO_PKG_VERSION")))
        };
        Self {
            http: Guarded::new(builder, config.private_hosts.clone()),
            config,
        }
    }

    /// A client for a tenant's endpoint, with its per-request timeout, the
    /// operator's private hosts and the job's deadline.
    pub fn for_endpoint(
        endpoint: &cutroom_core::analysis::ResolvedEndpoint,
        private_hosts: &BTreeSet<String>,
        deadline: Deadline,
    ) -> Self {
        let wire = match endpoint.provider {
            Provider::Gemini => Wire::Gemini,
            Provider::Openai | Provider::Local | Provider::Builtin | Provider::Auto => Wire::OpenAi,
        };
        let mut config = LlmConfig::new(
            wire,
            &endpoint.base_url,
            &endpoint.model,
            endpoint.api_key.clone(),
        );
        config.timeout = Duration::from_secs(u64::from(endpoint.timeout_seconds));
        config.private_hosts.clone_from(private_hosts);
        config.deadline = Some(deadline);
        Self::new(config)
    }

    /// What is left of the job's time, if it has a deadline.
    fn remaining(&self) -> Option<Duration> {
        self.config
            .deadline
            .map(|d| d.at.saturating_duration_since(Instant::now()))
    }

    fn deadline_error(&self) -> LlmError {
        LlmError::Deadline(self.config.deadline.map_or(Duration::ZERO, |d| d.total))
    }

    /// One completion whose text must be JSON matching `schema` (a JSON
    /// Schema; converted to Gemini's dialect for `gemini`).
    pub async fn complete_json(&self, system: &str, user: &str, schema: &Value) -> Reply {
        let mut usage = Usage::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Each request gets its own timeout or what is left of the
            // job's time, whichever is shorter.
            let timeout = match self.remaining() {
                Some(left) if left.is_zero() => {
                    return Reply {
                        result: Err(self.deadline_error()),
                        usage,
                    };
                }
                Some(left) => self.config.timeout.min(left),
                None => self.config.timeout,
            };
            usage.requests += 1;
            if attempt > 1 {
                usage.retries += 1;
            }
            let (result, retry_after) = self
                .request(system, user, schema, timeout, &mut usage)
                .await;
            let error = match result {
                Ok(value) => {
                    return Reply {
                        result: Ok(value),
                        usage,
                    };
                }
                // A timeout the deadline cut short is the deadline's.
                Err(LlmError::Timeout(_)) if timeout < self.config.timeout => self.deadline_error(),
                Err(e) => e,
            };
            if !error.retryable() || attempt >= self.config.max_attempts {
                return Reply {
                    result: Err(error),
                    usage,
                };
            }
            let wait = retry_after
                .unwrap_or_else(|| jittered(self.config.backoff * 2u32.pow(attempt - 1)))
                .min(self.config.max_wait);
            if self.remaining().is_some_and(|left| left <= wait) {
                return Reply {
                    result: Err(self.deadline_error()),
                    usage,
                };
            }
            tracing::debug!(attempt, ?wait, error = %error, "LLM request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn request(
        &self,
        system: &str,
        user: &str,
        schema: &Value,
        timeout: Duration,
        usage: &mut Usage,
    ) -> (Result<Value, LlmError>, Option<Duration>) {
        let c = &self.config;
        let url = match c.wire {
            // The model was checked to be a plain name (no `/`, `..`, `?`, `#`).
            Wire::Gemini => format!("{}/v1beta/models/{}:generateContent", c.base_url, c.model),
            Wire::OpenAi => format!("{}/v1/chat/completions", c.base_url),
        };
        let provider = match c.wire {
            Wire::Gemini => Provider::Gemini,
            Wire::OpenAi => Provider::Openai,
        };
        if let Err(why) = check_model(provider, &c.model) {
            return (Err(LlmError::Refused(format!("the model {why}"))), None);
        }
        let (http, url) = match self.http.client_for(&url) {
            Ok(checked) => checked,
            Err(e) => return (Err(LlmError::Refused(e.to_string())), None),
        };
        let request = match c.wire {
            Wire::Gemini => {
                let body = json!({
                    "systemInstruction": {"parts": [{"text": system}]},
                    "contents": [{"role": "user", "parts": [{"text": user}]}],
                    "generationConfig": {
                        "responseMimeType": "application/json",
                        "responseSchema": gemini_schema(schema),
                        "temperature": 0.2,
                        "maxOutputTokens": c.max_output_tokens,
                    },
                });
                let mut r = http.post(url).json(&body);
                if let Some(key) = &c.api_key {
                    r = r.header("x-goog-api-key", key.expose_secret());
                }
                r
            }
            Wire::OpenAi => {
                let body = json!({
                    "model": c.model,
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "cutroom", "strict": true, "schema": schema},
                    },
                    "temperature": 0.2,
                    "max_tokens": c.max_output_tokens,
                });
                let mut r = http.post(url).json(&body);
                if let Some(key) = &c.api_key {
                    r = r.bearer_auth(key.expose_secret());
                }
                r
            }
        };
        let response = match request.timeout(timeout).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return (Err(LlmError::Timeout(timeout)), None),
            Err(e) => return (Err(LlmError::Transport(outbound::describe(&e))), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let cap = if status.is_success() {
            MAX_REPLY_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        let body = match outbound::read_capped(response, cap).await {
            Ok(b) => b,
            Err(BodyError::Http(e)) if e.is_timeout() => {
                return (Err(LlmError::Timeout(timeout)), None);
            }
            Err(BodyError::Http(e)) => {
                return (Err(LlmError::Transport(outbound::describe(&e))), None);
            }
            // An error page past the cap says no more than its status.
            Err(BodyError::TooLarge(_)) if !status.is_success() => Vec::new(),
            Err(e @ BodyError::TooLarge(_)) => {
                return (
                    Err(LlmError::Malformed(format!("the reply is refused: {e}"))),
                    None,
                );
            }
        };
        if !status.is_success() {
            return (
                Err(LlmError::Status {
                    status: status.as_u16(),
                    reason: known_reason(&body),
                }),
                retry_after,
            );
        }
        (self.read(&String::from_utf8_lossy(&body), usage), None)
    }

    /// The model's JSON out of the API's envelope; counts the tokens.
    fn read(&self, text: &str, usage: &mut Usage) -> Result<Value, LlmError> {
        let envelope: Value = serde_json::from_str(text)
            .map_err(|e| LlmError::Malformed(format!("the reply is not JSON: {e}")))?;
        let (content, prompt, completion) = match self.config.wire {
            Wire::Gemini => (
                envelope.pointer("/candidates/0/content/parts/0/text"),
                envelope.pointer("/usageMetadata/promptTokenCount"),
                envelope.pointer("/usageMetadata/candidatesTokenCount"),
            ),
            Wire::OpenAi => (
                envelope.pointer("/choices/0/message/content"),
                envelope.pointer("/usage/prompt_tokens"),
                envelope.pointer("/usage/completion_tokens"),
            ),
        };
        usage.prompt_tokens += prompt.and_then(Value::as_u64).unwrap_or(0);
        usage.completion_tokens += completion.and_then(Value::as_u64).unwrap_or(0);
        let finish = envelope
            .pointer("/candidates/0/finishReason")
            .or_else(|| envelope.pointer("/choices/0/finish_reason"))
            .and_then(Value::as_str);
        let content = content.and_then(Value::as_str).ok_or_else(|| {
            let reason = finish.unwrap_or("no text in the reply");
            LlmError::Malformed(format!("no completion text ({reason})"))
        })?;
        serde_json::from_str(strip_fences(content)).map_err(|e| {
            if matches!(finish, Some("length" | "MAX_TOKENS")) {
                LlmError::Malformed(format!(
                    "the answer was cut off at {} tokens before its JSON was complete; \
                     answer more briefly",
                    self.config.max_output_tokens
                ))
            } else {
                LlmError::Malformed(format!("the model's text is not JSON: {e}"))
            }
        })
    }
}

/// Some models wrap JSON in a Markdown code fence despite being told not to.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// Up to `ceiling`, uniformly ("full jitter"), so clients that failed
/// together do not retry together.
fn jittered(ceiling: Duration) -> Duration {
    ceiling.mul_f64(rand::random::<f64>())
}

/// `Retry-After` as seconds (HTTP dates are turned into seconds from now).
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let from_now = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(from_now.to_std().unwrap_or(Duration::ZERO))
}

/// A JSON Schema in the dialect Gemini's `responseSchema` reads (an
/// OpenAPI 3.0 subset): upper-case types, and only the keywords it knows.
pub(crate) fn gemini_schema(schema: &Value) -> Value {
    const KEPT: [&str; 11] = [
        "description",
        "enum",
        "format",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "required",
        "nullable",
    ];
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    if let Some(t) = object.get("type").and_then(Value::as_str) {
        out.insert("type".into(), Value::from(t.to_uppercase()));
    }
    for key in KEPT {
        if let Some(v) = object.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        let converted: serde_json::Map<String, Value> = properties
            .iter()
            .map(|(k, v)| (k.clone(), gemini_schema(v)))
            .collect();
        let order: Vec<Value> = properties.keys().map(|k| Value::from(k.as_str())).collect();
        out.insert("properties".into(), Value::Object(converted));
        out.insert("propertyOrdering".into(), Value::Array(order));
    }
    if let Some(items) = object.get("items") {
        out.insert("items".into(), gemini_schema(items));
    }
    Value::Object(out)
}

#[cfg(test)]
pub(crate) mod stub;
#[cfg(test)]
mod tests;

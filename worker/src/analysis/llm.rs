//! The wire to an LLM: one JSON-schema-constrained completion over either
//! Google's Generative Language API (`gemini`) or any OpenAI-compatible
//! `/v1/chat/completions` endpoint (`openai`: llama.cpp's llama-server,
//! vLLM, Ollama, OpenAI). What a careful client does is here: a timeout per
//! request, retries with exponential backoff and full jitter on 429, 5xx,
//! timeouts and dropped connections, `Retry-After` honoured, and token
//! accounting. Parsing what the model wrote is the caller's (it validates
//! against its schema and may ask once for a repair).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

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
    #[error("the endpoint answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the endpoint: {0}")]
    Transport(String),
    /// The reply's envelope was not what the API documents, or the model's
    /// text was not JSON.
    #[error("unreadable reply: {0}")]
    Malformed(String),
}

impl LlmError {
    fn retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Timeout(_) | LlmError::Transport(_) => true,
            LlmError::Malformed(_) => false,
        }
    }
}

/// A call's outcome: the model's JSON, or the last error; with the usage
/// of every request made either way.
pub(crate) struct Reply {
    pub result: Result<Value, LlmError>,
    pub usage: Usage,
}

pub(crate) struct LlmClient {
    config: LlmConfig,
    http: reqwest::Client,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Self {
        Self {
            config,
            http: reqwest::Client::new(),
        }
    }

    /// A client for a tenant's endpoint, with its per-request timeout.
    pub fn for_endpoint(endpoint: &cutroom_core::analysis::ResolvedEndpoint) -> Self {
        use cutroom_core::analysis::Provider;
        let wire = match endpoint.provider {
            Provider::Gemini => Wire::Gemini,
            Provider::Openai | Provider::Builtin => Wire::OpenAi,
        };
        let mut config = LlmConfig::new(
            wire,
            &endpoint.base_url,
            &endpoint.model,
            endpoint.api_key.clone(),
        );
        config.timeout = Duration::from_secs(u64::from(endpoint.timeout_seconds));
        Self::new(config)
    }

    /// One completion whose text must be JSON matching `schema` (a JSON
    /// Schema; converted to Gemini's dialect for `gemini`).
    pub async fn complete_json(&self, system: &str, user: &str, schema: &Value) -> Reply {
        let mut usage = Usage::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            usage.requests += 1;
            if attempt > 1 {
                usage.retries += 1;
            }
            let (result, retry_after) = self.request(system, user, schema, &mut usage).await;
            let error = match result {
                Ok(value) => {
                    return Reply {
                        result: Ok(value),
                        usage,
                    };
                }
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
            tracing::debug!(attempt, ?wait, error = %error, "LLM request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn request(
        &self,
        system: &str,
        user: &str,
        schema: &Value,
        usage: &mut Usage,
    ) -> (Result<Value, LlmError>, Option<Duration>) {
        let c = &self.config;
        let mut request = match c.wire {
            Wire::Gemini => {
                let url = format!("{}/v1beta/models/{}:generateContent", c.base_url, c.model);
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
                let mut r = self.http.post(url).json(&body);
                if let Some(key) = &c.api_key {
                    r = r.header("x-goog-api-key", key.expose_secret());
                }
                r
            }
            Wire::OpenAi => {
                let url = format!("{}/v1/chat/completions", c.base_url);
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
                let mut r = self.http.post(url).json(&body);
                if let Some(key) = &c.api_key {
                    r = r.bearer_auth(key.expose_secret());
                }
                r
            }
        };
        request = request.timeout(c.timeout);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return (Err(LlmError::Timeout(c.timeout)), None),
            Err(e) => return (Err(LlmError::Transport(e.to_string())), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) if e.is_timeout() => return (Err(LlmError::Timeout(c.timeout)), None),
            Err(e) => return (Err(LlmError::Transport(e.to_string())), None),
        };
        if !status.is_success() {
            let body: String = text.chars().take(500).collect();
            return (
                Err(LlmError::Status {
                    status: status.as_u16(),
                    body,
                }),
                retry_after,
            );
        }
        (self.read(&text, usage), None)
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

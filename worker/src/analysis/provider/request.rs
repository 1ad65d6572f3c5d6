//! One request: a completion validated against the schema it was asked
//! for, with one repair request when it does not match, and the
//! [`ProviderError`] that says why a request's answer could not be used.

use serde::Deserialize;
use serde_json::Value;

use crate::analysis::llm::{LlmClient, LlmError, Usage};

/// Validation errors quoted back to the model in a repair request.
const QUOTED_ERRORS: usize = 5;

/// Why the provider's result was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProviderError {
    /// The endpoint failed (after the client's retries).
    #[error("request {part} of {parts}: {source}")]
    Endpoint {
        part: usize,
        parts: usize,
        source: LlmError,
    },
    /// The answer did not validate, nor did the repaired one.
    #[error(
        "request {part} of {parts}: the answer did not match the schema after a repair request: {errors}"
    )]
    Invalid {
        part: usize,
        parts: usize,
        errors: String,
    },
}

impl ProviderError {
    /// From what [`ask`] returned for request `part` of `parts`.
    pub fn new(e: Result<LlmError, String>, part: usize, parts: usize) -> Self {
        match e {
            Ok(source) => ProviderError::Endpoint {
                part,
                parts,
                source,
            },
            Err(errors) => ProviderError::Invalid {
                part,
                parts,
                errors,
            },
        }
    }

    /// The machine-readable reason recorded in `analysis.json`.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Endpoint {
                source: LlmError::Timeout(_),
                ..
            } => "llm_timeout",
            ProviderError::Endpoint {
                source: LlmError::Status { status: 429, .. },
                ..
            } => "llm_rate_limited",
            ProviderError::Endpoint {
                source: LlmError::Status { status, .. },
                ..
            } if *status == 401 || *status == 403 => "llm_unauthorized",
            ProviderError::Endpoint {
                source: LlmError::Status { .. },
                ..
            } => "llm_error_status",
            ProviderError::Endpoint {
                source: LlmError::Transport(_),
                ..
            } => "llm_unreachable",
            ProviderError::Endpoint {
                source: LlmError::Malformed(_),
                ..
            }
            | ProviderError::Invalid { .. } => "llm_invalid_answer",
            ProviderError::Endpoint {
                source: LlmError::Refused(_),
                ..
            } => "llm_endpoint_refused",
            ProviderError::Endpoint {
                source: LlmError::Deadline(_),
                ..
            } => "llm_deadline",
        }
    }
}

/// Checks an answer against the schema it was asked with, then reads it.
/// The messages are the validator's, to quote back in a repair request.
pub(super) fn validate<T: for<'de> Deserialize<'de>>(
    schema: &Value,
    value: &Value,
) -> Result<T, String> {
    let validator =
        jsonschema::validator_for(schema).expect("the analysis schemas are valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .take(QUOTED_ERRORS)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    serde_json::from_value(value.clone()).map_err(|e| e.to_string())
}

/// One completion validated against `schema`, with one repair request when
/// the first answer is not JSON or does not validate. `Err(Ok(_))`: the
/// endpoint failed; `Err(Err(_))`: the validator's messages.
pub(crate) async fn ask<T: for<'de> Deserialize<'de>>(
    client: &LlmClient,
    system: &str,
    user: &str,
    schema: &Value,
    usage: &mut Usage,
    repaired: &mut bool,
) -> Result<T, Result<LlmError, String>> {
    let reply = client.complete_json(system, user, schema).await;
    add(usage, reply.usage);
    let problem = match reply.result {
        Ok(value) => match validate(schema, &value) {
            Ok(answer) => return Ok(answer),
            Err(errors) => format!("{errors}. Your answer was: {}", clip(&value.to_string())),
        },
        Err(LlmError::Malformed(why)) => why,
        Err(e) => return Err(Ok(e)),
    };
    *repaired = true;
    let again = format!(
        "{user}\n\nYour previous answer could not be used: {problem}\n\
         Answer again with JSON that matches the schema exactly."
    );
    let reply = client.complete_json(system, &again, schema).await;
    add(usage, reply.usage);
    match reply.result {
        Ok(value) => validate(schema, &value).map_err(Err),
        Err(LlmError::Malformed(why)) => Err(Err(why)),
        Err(e) => Err(Ok(e)),
    }
}

fn clip(text: &str) -> String {
    if text.chars().count() <= 2000 {
        return text.to_owned();
    }
    let head: String = text.chars().take(2000).collect();
    format!("{head}…")
}

pub(crate) fn add(total: &mut Usage, more: Usage) {
    total.requests += more.requests;
    total.retries += more.retries;
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
}

//! Cloud speech engines: Deepgram, AssemblyAI and OpenAI-compatible
//! `/v1/audio/transcriptions`, each over its documented wire format.
//!
//! What is sent is the speech alone ([`track`]): the VAD's speech
//! intervals one after another with short pauses between them, as Ogg
//! Opus, never the video. Their words come back on that track's timeline
//! and are mapped onto the source's, then fitted to the speech and the
//! audio like the local engine's ([`super::words`]), so the stages after
//! transcription cannot tell which engine ran.
//!
//! A careful client, as the LLM one ([`crate::analysis::llm`]): requests go
//! through the outbound guard (the endpoint is a tenant's URL), replies
//! are read up to a cap, error bodies are not repeated, and each failure is
//! classified ([`CloudError`]) so the router knows whether to retry, move
//! on, or tell the tenant its key is refused.

mod assemblyai;
mod deepgram;
mod openai;
#[cfg(test)]
mod tests;
pub(crate) mod track;

use std::{collections::BTreeSet, time::Duration};

use cutroom_core::{
    ErrorCode,
    outbound::{self, BodyError, Guarded},
    speech::{Engine, ResolvedSpeech},
};
use serde_json::Value;

use super::{Segment, Word};

/// The largest reply read: an hour of words is a few MiB of JSON.
const MAX_REPLY_BYTES: usize = 64 << 20;
/// Of an error reply, only this much is read (for its reason code).
const MAX_ERROR_BYTES: usize = 64 << 10;

/// Why a cloud engine gave no transcript.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CloudError {
    #[error("the engine refused the API key ({0})")]
    KeyRefused(u16),
    #[error("the account's quota or credit is used up ({0})")]
    Quota(u16),
    #[error("the engine refused the audio as too large (413)")]
    TooLarge,
    #[error("the engine is rate limiting requests (429)")]
    RateLimited(Option<Duration>),
    #[error("the engine failed ({0})")]
    Server(u16),
    #[error("the engine refused the request ({0})")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the engine: {0}")]
    Network(String),
    #[error("unreadable reply: {0}")]
    Malformed(String),
    #[error("the endpoint's URL is refused: {0}")]
    Refused(String),
    #[error("the engine could not transcribe the audio: {0}")]
    Failed(String),
}

impl CloudError {
    /// The class the job's route report names.
    pub fn class(&self) -> &'static str {
        match self {
            CloudError::KeyRefused(_) => "key_refused",
            CloudError::Quota(_) => "quota",
            CloudError::TooLarge => "too_large",
            CloudError::RateLimited(_) => "rate_limited",
            CloudError::Server(_) => "server_error",
            CloudError::Status(_) => "refused",
            CloudError::Timeout(_) => "timeout",
            CloudError::Network(_) => "network",
            CloudError::Malformed(_) => "malformed",
            CloudError::Refused(_) => "refused_url",
            CloudError::Failed(_) => "failed",
        }
    }

    /// Worth asking again after a pause.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            CloudError::RateLimited(_)
                | CloudError::Server(_)
                | CloudError::Timeout(_)
                | CloudError::Network(_)
        )
    }

    /// The job's code when this error ends it.
    pub fn code(&self) -> ErrorCode {
        match self {
            CloudError::KeyRefused(_) => ErrorCode::EngineKeyRefused,
            e if e.retryable() => ErrorCode::EngineUnavailable,
            _ => ErrorCode::EngineRefused,
        }
    }

    /// A 4xx or 5xx answer, classified by its status (and for 429 by the
    /// documented reason that tells a used-up quota from a rate limit).
    fn from_status(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        match status {
            401 | 403 => CloudError::KeyRefused(status),
            402 => CloudError::Quota(status),
            413 => CloudError::TooLarge,
            429 if quota_reason(body) => CloudError::Quota(status),
            429 => CloudError::RateLimited(retry_after),
            500.. => CloudError::Server(status),
            _ => CloudError::Status(status),
        }
    }
}

/// Whether a 429's body says the quota is used up rather than the rate:
/// OpenAI's `insufficient_quota`, Deepgram's `ASR_PAYMENT_REQUIRED`.
fn quota_reason(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    [
        v.pointer("/error/code"),
        v.pointer("/error/type"),
        v.get("err_code"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .any(|c| matches!(c, "insufficient_quota" | "ASR_PAYMENT_REQUIRED"))
}

/// A word as an engine reports it, on the track's timeline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CloudWord {
    pub start: f64,
    pub end: f64,
    /// With its punctuation where the engine gives it.
    pub text: String,
    pub confidence: Option<f32>,
}

/// What an engine heard, on the track's timeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Heard {
    pub words: Vec<CloudWord>,
    /// Where the engine cut its text into phrases (utterances or
    /// segments), as `(start, end)`; empty: cut at sentence ends.
    pub phrases: Vec<(f64, f64)>,
    /// ISO 639-1.
    pub language: Option<String>,
    pub language_probability: Option<f32>,
}

/// One request to an engine and what came back.
pub(crate) struct Http<'a> {
    pub guarded: &'a Guarded,
    pub endpoint: &'a ResolvedSpeech,
    pub timeout: Duration,
}

impl Http<'_> {
    /// Sends `request` (built on the guarded client for `url`) and reads
    /// a JSON reply, or the classified error.
    pub async fn json(
        &self,
        url: &str,
        build: impl FnOnce(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<Value, CloudError> {
        let (client, url) = self
            .guarded
            .client_for(url)
            .map_err(|e| CloudError::Refused(e.to_string()))?;
        let response = match build(client, url).timeout(self.timeout).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(CloudError::Timeout(self.timeout)),
            Err(e) => return Err(CloudError::Network(outbound::describe(&e))),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let cap = if status.is_success() {
            MAX_REPLY_BYTES
        } else {
            MAX_ERROR_BYTES
        };
        let body = match outbound::read_capped(response, cap).await {
            Ok(b) => b,
            Err(BodyError::Http(e)) if e.is_timeout() => {
                return Err(CloudError::Timeout(self.timeout));
            }
            Err(BodyError::Http(e)) => return Err(CloudError::Network(outbound::describe(&e))),
            Err(BodyError::TooLarge(_)) if !status.is_success() => Vec::new(),
            Err(e @ BodyError::TooLarge(_)) => {
                return Err(CloudError::Malformed(format!("the reply is refused: {e}")));
            }
        };
        if !status.is_success() {
            return Err(CloudError::from_status(status.as_u16(), &body, retry_after));
        }
        serde_json::from_slice(&body)
            .map_err(|e| CloudError::Malformed(format!("the reply is not JSON: {e}")))
    }
}

/// A client for one tenant's cloud engine.
pub(crate) struct CloudClient {
    guarded: Guarded,
    pub endpoint: ResolvedSpeech,
    /// Requests at most, the first included.
    pub attempts: u32,
    pub backoff: Duration,
    /// No wait (computed or `Retry-After`) is longer than this.
    pub max_wait: Duration,
    /// AssemblyAI's first poll waits this; later ones up to 5 s.
    pub poll: Duration,
}

/// A call's outcome with the requests it made.
pub(crate) struct Outcome {
    pub result: Result<Heard, CloudError>,
    pub requests: u32,
}

impl CloudClient {
    pub fn new(endpoint: ResolvedSpeech, private_hosts: BTreeSet<String>) -> Self {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("Cutroom/", env!("CARGO_PKG_VERSION")))
        };
        Self {
            guarded: Guarded::new(builder, private_hosts),
            endpoint,
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }

    /// Transcribes `ogg` (Ogg Opus), in `language` when given (else the
    /// engine detects it), retrying what may pass.
    pub async fn transcribe(&self, ogg: &[u8], language: Option<&str>) -> Outcome {
        let mut requests = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let http = Http {
                guarded: &self.guarded,
                endpoint: &self.endpoint,
                timeout: Duration::from_secs(u64::from(self.endpoint.timeout_seconds)),
            };
            let result = match self.endpoint.engine {
                Engine::Deepgram => deepgram::transcribe(&http, ogg, language, &mut requests).await,
                Engine::Assemblyai => {
                    assemblyai::transcribe(&http, ogg, language, self.poll, &mut requests).await
                }
                Engine::Openai => openai::transcribe(&http, ogg, language, &mut requests).await,
                Engine::Local => Err(CloudError::Failed("the local engine is not a cloud".into())),
            };
            let error = match result {
                Ok(heard) => {
                    return Outcome {
                        result: Ok(heard),
                        requests,
                    };
                }
                Err(e) => e,
            };
            if !error.retryable() || attempt >= self.attempts {
                return Outcome {
                    result: Err(error),
                    requests,
                };
            }
            let wait = match &error {
                CloudError::RateLimited(Some(after)) => *after,
                _ => jittered(self.backoff * 2u32.pow(attempt - 1)),
            }
            .min(self.max_wait);
            tracing::info!(engine = self.endpoint.engine.name(), attempt, ?wait, error = %error, "speech request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A pause between 0 and `up_to` (full jitter).
fn jittered(up_to: Duration) -> Duration {
    up_to.mul_f64(rand::random_range(0.0..=1.0))
}

/// A language an engine named, as ISO 639-1: codes pass (`en`, `en-US`
/// becomes `en`), Whisper's English names (OpenAI's `verbose_json` says
/// `english`) are looked up.
pub(crate) fn language_code(name: &str) -> Option<String> {
    let lower = name.trim().to_ascii_lowercase();
    let base = lower.split(['-', '_']).next().unwrap_or_default();
    if cutroom_core::jobs::WHISPER_LANGUAGES.contains(&base) {
        return Some(base.to_owned());
    }
    LANGUAGE_NAMES
        .iter()
        .find(|(_, n)| *n == lower)
        .map(|(c, _)| (*c).to_owned())
}

/// Whisper's language names (its tokenizer's table), by code.
#[rustfmt::skip]
const LANGUAGE_NAMES: &[(&str, &str)] = &[
    ("en", "english"), ("zh", "chinese"), ("de", "german"), ("es", "spanish"),
    ("ru", "russian"), ("ko", "korean"), ("fr", "french"), ("ja", "japanese"),
    ("pt", "portuguese"), ("tr", "turkish"), ("pl", "polish"), ("ca", "catalan"),
    ("nl", "dutch"), ("ar", "arabic"), ("sv", "swedish"), ("it", "italian"),
    ("id", "indonesian"), ("hi", "hindi"), ("fi", "finnish"), ("vi", "vietnamese"),
    ("he", "hebrew"), ("uk", "ukrainian"), ("el", "greek"), ("ms", "malay"),
    ("cs", "czech"), ("ro", "romanian"), ("da", "danish"), ("hu", "hungarian"),
    ("ta", "tamil"), ("no", "norwegian"), ("th", "thai"), ("ur", "urdu"),
    ("hr", "croatian"), ("bg", "bulgarian"), ("lt", "lithuanian"), ("la", "latin"),
    ("mi", "maori"), ("ml", "malayalam"), ("cy", "welsh"), ("sk", "slovak"),
    ("te", "telugu"), ("fa", "persian"), ("lv", "latvian"), ("bn", "bengali"),
    ("sr", "serbian"), ("az", "azerbaijani"), ("sl", "slovenian"), ("kn", "kannada"),
    ("et", "estonian"), ("mk", "macedonian"), ("br", "breton"), ("eu", "basque"),
    ("is", "icelandic"), ("hy", "armenian"), ("ne", "nepali"), ("mn", "mongolian"),
    ("bs", "bosnian"), ("kk", "kazakh"), ("sq", "albanian"), ("sw", "swahili"),
    ("gl", "galician"), ("mr", "marathi"), ("pa", "punjabi"), ("si", "sinhala"),
    ("km", "khmer"), ("sn", "shona"), ("yo", "yoruba"), ("so", "somali"),
    ("af", "afrikaans"), ("oc", "occitan"), ("ka", "georgian"), ("be", "belarusian"),
    ("tg", "tajik"), ("sd", "sindhi"), ("gu", "gujarati"), ("am", "amharic"),
    ("yi", "yiddish"), ("lo", "lao"), ("uz", "uzbek"), ("fo", "faroese"),
    ("ht", "haitian creole"), ("ps", "pashto"), ("tk", "turkmen"), ("nn", "nynorsk"),
    ("mt", "maltese"), ("sa", "sanskrit"), ("lb", "luxembourgish"), ("my", "myanmar"),
    ("bo", "tibetan"), ("tl", "tagalog"), ("mg", "malagasy"), ("as", "assamese"),
    ("tt", "tatar"), ("haw", "hawaiian"), ("ln", "lingala"), ("ha", "hausa"),
    ("ba", "bashkir"), ("jw", "javanese"), ("su", "sundanese"), ("yue", "cantonese"),
];

/// The chunks' words (each on its own track's timeline) as one `Heard`
/// on the source's timeline, in order. With several chunks the engines'
/// phrases are dropped: a chunk ends at a pause, not at a sentence's end,
/// so segments are cut at sentence ends and a sentence that runs over a
/// seam stays whole. Each word comes from the one chunk that heard it:
/// none is lost or doubled at a seam.
pub(crate) fn merge(parts: Vec<(&track::Track, Heard)>) -> Heard {
    let single = parts.len() == 1;
    let mut out = Heard::default();
    for (track, heard) in parts {
        out.words.extend(heard.words.into_iter().map(|w| {
            let start = track.to_source(w.start);
            CloudWord {
                start,
                end: track.to_source(w.end).max(start),
                ..w
            }
        }));
        if single {
            out.phrases = heard
                .phrases
                .iter()
                .map(|(a, b)| (track.to_source(*a), track.to_source(*b)))
                .collect();
        }
        if out.language.is_none() {
            out.language = heard.language;
            out.language_probability = heard.language_probability;
        }
    }
    out
}

/// The words grouped into segments: by the engine's phrases when it gave
/// them, else at sentence ends, pauses over a second, or 30 words. Times
/// are still the track's.
pub(crate) fn segments(heard: &Heard) -> Vec<Segment> {
    let mut groups: Vec<Vec<&CloudWord>> = Vec::new();
    if heard.phrases.is_empty() {
        let mut current: Vec<&CloudWord> = Vec::new();
        for w in &heard.words {
            let pause = current.last().is_some_and(|p| w.start - p.end > 1.0);
            if pause || current.len() >= 30 {
                groups.push(std::mem::take(&mut current));
            }
            current.push(w);
            if w.text.ends_with(['.', '?', '!']) {
                groups.push(std::mem::take(&mut current));
            }
        }
        groups.push(current);
    } else {
        // Each word goes to the phrase its middle falls in (the last that
        // starts before it), so a word on a seam is neither lost nor
        // counted twice.
        groups.resize(heard.phrases.len(), Vec::new());
        for w in &heard.words {
            let mid = (w.start + w.end) / 2.0;
            let i = heard
                .phrases
                .iter()
                .rposition(|(s, _)| *s <= mid)
                .unwrap_or(0);
            groups[i].push(w);
        }
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .enumerate()
        .map(|(id, g)| {
            let words: Vec<Word> = g
                .iter()
                .map(|w| Word {
                    start: w.start,
                    end: w.end.max(w.start),
                    text: w.text.clone(),
                    probability: w.confidence.unwrap_or(1.0).clamp(0.0, 1.0),
                    speaker: None,
                })
                .collect();
            let confidence = words.iter().map(|w| w.probability).sum::<f32>() / words.len() as f32;
            Segment {
                id,
                start: words[0].start,
                end: words.iter().map(|w| w.end).fold(0.0, f64::max),
                text: words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                speaker: None,
                confidence,
                words,
                edited_at: None,
            }
        })
        .collect()
}

/// A number from a JSON field, or a `Malformed` error naming it.
pub(crate) fn num(v: &Value, field: &str) -> Result<f64, CloudError> {
    v.get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| CloudError::Malformed(format!("a word without `{field}`")))
}

//! `analysis.json`: the summary, chapters, keywords and highlights of a
//! job, by the builtin analysis or an LLM provider, with why a requested
//! provider was not used and what it cost. Times are seconds on the
//! source's timeline.

use serde::{Deserialize, Serialize};

use crate::analysis::{Provider, route::AnalysisRoute};

/// The object's name beside the job's other outputs.
pub const FILE_NAME: &str = "analysis.json";

/// `analysis.json`'s `version`; bumped when its shape changes
/// incompatibly.
pub const FORMAT_VERSION: u32 = 2;

/// The contents of `analysis.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisReport {
    pub version: u32,
    /// Which provider wrote it.
    pub provider: Provider,
    /// The provider the job asked for; not `provider` after a fallback.
    pub requested_provider: Provider,
    /// The LLM that wrote it (or was asked, before a fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The transcript's language (ISO 639-1); `None` when nothing was said.
    pub language: Option<String>,
    /// Sentences the transcript was read as.
    pub sentences: usize,
    /// The analysis itself, its fields at the top level of the file.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// Why the requested LLM provider's analysis was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// What the LLM provider was asked and what it cost, fallback or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageReport>,
    /// Why `auto` chose the provider it did; absent for a named provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<AnalysisRoute>,
    /// What the local model wrote over builtin's wording, and what it was
    /// refused (`local` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wording: Option<WordingReport>,
    /// Anything the reader should know (e.g. a language the embeddings
    /// were not trained on).
    pub warnings: Vec<String>,
}

/// What any provider produces; the builtin one is also the fallback.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// A few sentences of the talk, in the order they were said.
    pub summary: String,
    pub chapters: Vec<Chapter>,
    /// The most distinctive words, most frequent first.
    pub keywords: Vec<Keyword>,
    /// Best first; the clips are cut from them in this order (rank 1 is
    /// the first).
    pub highlights: Vec<Highlight>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub title: String,
    pub start: f64,
    pub end: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keyword {
    pub word: String,
    /// Times it was said.
    pub count: usize,
}

/// A stretch of whole sentences worth a clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Highlight {
    pub start: f64,
    pub end: f64,
    pub title: String,
    /// The line it opens with.
    pub hook: String,
    /// 0-100.
    pub score: u32,
    /// What raised the score, strongest first.
    pub reasons: Vec<Reason>,
}

/// One reason a highlight scored what it did; also stored with the
/// highlight's row, where the API lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub signal: Signal,
    /// Points out of 100 it added; absent for a model's reasons (the model
    /// scores the whole candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// For a person: what was measured, or what the model said.
    pub detail: String,
}

/// What a [`Reason`] was measured from: the builtin scorer's signals, or
/// `model` for a reason an LLM gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Opens with a hook phrase.
    Hook,
    /// Opens with a question.
    Question,
    /// Starts and ends on whole sentences.
    Standalone,
    /// Louder than the talk's typical loudness.
    Energy,
    /// Faster than the talk's typical pace.
    Pace,
    /// Close to what the whole talk is about.
    Topic,
    /// Changes of speaker.
    Dialogue,
    /// Non-speech sound (laughter, applause) at or right after its end.
    Reaction,
    /// An LLM's reason.
    Model,
}

/// Why the builtin analysis stands in for the requested provider's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// `llm_not_configured`, `llm_timeout`, `llm_rate_limited`,
    /// `llm_unauthorized`, `llm_error_status`, `llm_unreachable`,
    /// `llm_invalid_answer`, `llm_endpoint_refused` (the outbound guard
    /// refused its URL) or `llm_deadline` (the job's time for LLM requests
    /// ran out).
    pub code: String,
    pub message: String,
}

/// The local model's wording of builtin's analysis: each title it was
/// asked for, kept when it is a phrase of the passage's own matter, else
/// builtin's stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WordingReport {
    /// Titles (chapters and highlights) and summaries asked for.
    pub asked: usize,
    /// The model's wording in the analysis.
    pub written: usize,
    /// Answers refused: not about the passage (no word of its own), too
    /// long, or a failed request; builtin's wording stands for them.
    pub refused: usize,
    /// Why each refused answer was refused, the first few.
    pub reasons: Vec<String>,
}

/// An LLM provider's bill for a job's stage (`analysis.json` and
/// `moderation.json` both carry one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Pieces the transcript was sent in.
    pub chunks: usize,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    pub requests: u32,
    /// Requests repeated after a timeout, 429 or 5xx.
    pub retries: u32,
    /// Chunks asked a second time because the first answer did not validate.
    pub repairs: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// US dollars at the tenant's prices; absent when it set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Wall-clock seconds, to the millisecond.
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> AnalysisReport {
        AnalysisReport {
            version: FORMAT_VERSION,
            provider: Provider::Builtin,
            requested_provider: Provider::Openai,
            model: Some("llama".into()),
            language: Some("en".into()),
            sentences: 42,
            analysis: Analysis {
                summary: "What it is about.".into(),
                chapters: vec![Chapter {
                    title: "Start".into(),
                    start: 0.0,
                    end: 61.5,
                }],
                keywords: vec![Keyword {
                    word: "rust".into(),
                    count: 7,
                }],
                highlights: vec![Highlight {
                    start: 3.25,
                    end: 40.0,
                    title: "Why".into(),
                    hook: "Why would you?".into(),
                    score: 55,
                    reasons: vec![
                        Reason {
                            signal: Signal::Question,
                            points: Some(20),
                            detail: "opens with a question".into(),
                        },
                        Reason {
                            signal: Signal::Model,
                            points: None,
                            detail: "funny".into(),
                        },
                    ],
                }],
            },
            fallback: Some(Fallback {
                code: "llm_timeout".into(),
                message: "too slow".into(),
            }),
            usage: Some(UsageReport {
                chunks: 1,
                max_in_flight: 1,
                requests: 2,
                retries: 1,
                repairs: 0,
                prompt_tokens: 1000,
                completion_tokens: 100,
                cost_usd: None,
                seconds: 1.5,
            }),
            route: None,
            wording: None,
            warnings: vec!["rough".into()],
        }
    }

    #[test]
    fn round_trips() {
        let report = report();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<AnalysisReport>(&json).unwrap(),
            report
        );
    }

    /// The names clients read: the analysis flattened to the top level,
    /// providers and signals as lowercase words, absent options left out.
    #[test]
    fn shape() {
        let value = serde_json::to_value(report()).unwrap();
        assert_eq!(value["provider"], "builtin");
        assert_eq!(value["requested_provider"], "openai");
        assert_eq!(value["summary"], "What it is about.");
        assert_eq!(value["highlights"][0]["reasons"][0]["signal"], "question");
        assert!(value["highlights"][0]["reasons"][1].get("points").is_none());
        assert!(value["usage"].get("cost_usd").is_none());
        assert!(value.get("analysis").is_none());
    }
}

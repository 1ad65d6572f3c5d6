//! Deepgram's pre-recorded API: one `POST /v1/listen` with the audio as
//! the body (`Authorization: Token <key>`), word timestamps, punctuation,
//! diarization and utterances asked for in the query. The reply:
//! `results.channels[0].alternatives[0].words[]` (`word`, `start`, `end`,
//! `confidence`, `speaker`, `punctuated_word`), `results.utterances[]`
//! (`start`, `end`) and, when detected, `results.channels[0].detected_language`
//! with `language_confidence`. Errors are `{"err_code", "err_msg",
//! "request_id"}`.

use secrecy::ExposeSecret;
use serde_json::Value;

use super::{CloudError, CloudWord, Heard, Http, language_code, num};

pub(super) async fn transcribe(
    http: &Http<'_>,
    ogg: &[u8],
    language: Option<&str>,
    requests: &mut u32,
) -> Result<Heard, CloudError> {
    let ep = http.endpoint;
    let mut query = vec![
        ("model", ep.model.clone()),
        ("punctuate", "true".into()),
        ("smart_format", "true".into()),
        ("diarize", "true".into()),
        ("utterances", "true".into()),
    ];
    match language {
        Some(lang) => query.push(("language", lang.to_owned())),
        None => query.push(("detect_language", "true".into())),
    }
    let mut url = reqwest::Url::parse(&format!("{}/v1/listen", ep.base_url))
        .map_err(|e| CloudError::Refused(e.to_string()))?;
    url.query_pairs_mut().extend_pairs(&query);
    *requests += 1;
    let body = ogg.to_vec();
    let reply = http
        .json(url.as_str(), |client, url| {
            client
                .post(url)
                .header(
                    "Authorization",
                    format!("Token {}", ep.api_key.expose_secret()),
                )
                .header("Content-Type", "audio/ogg")
                .body(body)
        })
        .await?;
    read(&reply)
}

/// The reply's words, utterances and language.
pub(super) fn read(reply: &Value) -> Result<Heard, CloudError> {
    let channel = reply
        .pointer("/results/channels/0")
        .ok_or_else(|| CloudError::Malformed("no `results.channels[0]`".into()))?;
    let words = channel
        .pointer("/alternatives/0/words")
        .and_then(Value::as_array)
        .ok_or_else(|| CloudError::Malformed("no `alternatives[0].words`".into()))?;
    let words = words
        .iter()
        .map(|w| {
            let text = w
                .get("punctuated_word")
                .or_else(|| w.get("word"))
                .and_then(Value::as_str)
                .ok_or_else(|| CloudError::Malformed("a word without `word`".into()))?;
            Ok(CloudWord {
                start: num(w, "start")?,
                end: num(w, "end")?,
                text: text.to_owned(),
                confidence: w
                    .get("confidence")
                    .and_then(Value::as_f64)
                    .map(|c| c as f32),
            })
        })
        .collect::<Result<Vec<_>, CloudError>>()?;
    let phrases = reply
        .pointer("/results/utterances")
        .and_then(Value::as_array)
        .map(|us| {
            us.iter()
                .filter_map(|u| Some((num(u, "start").ok()?, num(u, "end").ok()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Heard {
        words,
        phrases,
        language: channel
            .get("detected_language")
            .and_then(Value::as_str)
            .and_then(language_code),
        language_probability: channel
            .get("language_confidence")
            .and_then(Value::as_f64)
            .map(|p| p as f32),
    })
}

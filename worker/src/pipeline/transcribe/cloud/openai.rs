//! OpenAI's `POST /v1/audio/transcriptions` (Groq and others speak it
//! too): a multipart form with `file`, `model`, `response_format=verbose_json`
//! and `timestamp_granularities[]` `word` and `segment`
//! (`Authorization: Bearer <key>`). The reply: `language` (Whisper's
//! English name, `english`), `duration`, `text`, `words[]` (`word`,
//! `start`, `end`) and `segments[]` (`start`, `end`, `text`,
//! `avg_logprob`, `no_speech_prob`). Errors are `{"error": {"message",
//! "type", "code"}}`; a used-up quota is 429 with `insufficient_quota`.

use reqwest::multipart::{Form, Part};
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
    let file = Part::bytes(ogg.to_vec())
        .file_name("speech.ogg")
        .mime_str("audio/ogg")
        .expect("a valid MIME type");
    let mut form = Form::new()
        .part("file", file)
        .text("model", ep.model.clone())
        .text("response_format", "verbose_json")
        .text("timestamp_granularities[]", "word")
        .text("timestamp_granularities[]", "segment")
        .text("temperature", "0");
    if let Some(lang) = language {
        form = form.text("language", lang.to_owned());
    }
    let url = format!("{}/v1/audio/transcriptions", ep.base_url);
    *requests += 1;
    let reply = http
        .json(&url, |client, url| {
            client
                .post(url)
                .bearer_auth(ep.api_key.expose_secret())
                .multipart(form)
        })
        .await?;
    read(&reply)
}

/// The reply's words, segments and language. A word's confidence is its
/// segment's mean token probability (`exp(avg_logprob)`).
pub(super) fn read(reply: &Value) -> Result<Heard, CloudError> {
    let words = reply
        .get("words")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            CloudError::Malformed("no `words` (verbose_json with word timestamps)".into())
        })?;
    let segments: Vec<(f64, f64, Option<f32>)> = reply
        .get("segments")
        .and_then(Value::as_array)
        .map(|ss| {
            ss.iter()
                .filter_map(|s| {
                    let p = s
                        .get("avg_logprob")
                        .and_then(Value::as_f64)
                        .map(|l| l.exp() as f32);
                    Some((num(s, "start").ok()?, num(s, "end").ok()?, p))
                })
                .collect()
        })
        .unwrap_or_default();
    let seg_of = |mid: f64| segments.iter().rposition(|(s, _, _)| *s <= mid);
    let mut owner = Vec::with_capacity(words.len());
    let mut words = words
        .iter()
        .map(|w| {
            let text = w
                .get("word")
                .and_then(Value::as_str)
                .ok_or_else(|| CloudError::Malformed("a word without `word`".into()))?;
            let (start, end) = (num(w, "start")?, num(w, "end")?);
            let seg = seg_of((start + end) / 2.0);
            owner.push(seg);
            Ok(CloudWord {
                start,
                end,
                text: text.trim().to_owned(),
                confidence: seg.and_then(|i| segments[i].2),
            })
        })
        .collect::<Result<Vec<_>, CloudError>>()?;
    // `words[]` comes without punctuation; a segment's text has it. When a
    // segment's text splits into as many tokens as it has words, each word
    // takes its token, so sentences still end where the speaker ended them.
    let texts: Vec<Option<&str>> = reply
        .get("segments")
        .and_then(Value::as_array)
        .map(|ss| {
            ss.iter()
                .map(|s| s.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    for (i, text) in texts.iter().enumerate() {
        let Some(text) = text else { continue };
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let mine: Vec<usize> = (0..words.len()).filter(|w| owner[*w] == Some(i)).collect();
        if tokens.len() == mine.len() {
            for (w, token) in mine.into_iter().zip(tokens) {
                words[w].text = token.to_owned();
            }
        }
    }
    Ok(Heard {
        words,
        phrases: segments.iter().map(|(s, e, _)| (*s, *e)).collect(),
        language: reply
            .get("language")
            .and_then(Value::as_str)
            .and_then(language_code),
        language_probability: None,
    })
}

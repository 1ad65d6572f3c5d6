//! AssemblyAI: the audio is uploaded (`POST /v2/upload`, raw bytes,
//! answered `{"upload_url"}`), a transcript is asked for
//! (`POST /v2/transcript` with `audio_url`, `speech_model`,
//! `speaker_labels`, and `language_code` or `language_detection`), and
//! polled (`GET /v2/transcript/{id}`) until its `status` is `completed`
//! or `error`. Every request carries `Authorization: <key>`. The
//! transcript: `words[]` (`text`, `start` and `end` in milliseconds,
//! `confidence`, `speaker`), `utterances[]`, `language_code`,
//! `language_confidence`. It is deleted (`DELETE /v2/transcript/{id}`)
//! once read, so the tenant's words do not stay with the provider.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{CloudError, CloudWord, Heard, Http, language_code, num};

/// The longest pause between two polls.
const MAX_POLL: Duration = Duration::from_secs(5);

pub(super) async fn transcribe(
    http: &Http<'_>,
    ogg: &[u8],
    language: Option<&str>,
    poll: Duration,
    requests: &mut u32,
) -> Result<Heard, CloudError> {
    let ep = http.endpoint;
    let key = ep.api_key.expose_secret();
    let base = &ep.base_url;
    *requests += 1;
    let body = ogg.to_vec();
    let uploaded = http
        .json(&format!("{base}/v2/upload"), |c, url| {
            c.post(url)
                .header("Authorization", key)
                .header("Content-Type", "application/octet-stream")
                .body(body)
        })
        .await?;
    let audio_url = uploaded
        .get("upload_url")
        .and_then(Value::as_str)
        .ok_or_else(|| CloudError::Malformed("no `upload_url`".into()))?;
    let mut ask = json!({
        "audio_url": audio_url,
        "speech_model": ep.model,
        "speaker_labels": true,
        "punctuate": true,
        "format_text": true,
    });
    match language {
        Some(lang) => ask["language_code"] = json!(lang),
        None => ask["language_detection"] = json!(true),
    }
    *requests += 1;
    let created = http
        .json(&format!("{base}/v2/transcript"), |c, url| {
            c.post(url).header("Authorization", key).json(&ask)
        })
        .await?;
    let id = created
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| {
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .ok_or_else(|| CloudError::Malformed("no usable transcript `id`".into()))?
        .to_owned();
    let at = format!("{base}/v2/transcript/{id}");
    let mut wait = poll;
    // The job's own deadline and cancellation bound this loop; each poll
    // is one request with its own timeout.
    let done = loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_POLL);
        *requests += 1;
        let t = http
            .json(&at, |c, url| c.get(url).header("Authorization", key))
            .await?;
        match t.get("status").and_then(Value::as_str) {
            Some("completed") => break t,
            // Its `error` is free text from the endpoint (a tenant's URL
            // may be any service): not repeated, as no error body is.
            Some("error") => {
                return Err(CloudError::Failed(
                    "the transcript ended in status `error`".into(),
                ));
            }
            Some("queued" | "processing") => {}
            other => {
                return Err(CloudError::Malformed(format!(
                    "unknown transcript status {other:?}"
                )));
            }
        }
    };
    let heard = read(&done);
    *requests += 1;
    if let Err(e) = http
        .json(&at, |c, url| c.delete(url).header("Authorization", key))
        .await
    {
        tracing::warn!(error = %e, "the transcript could not be deleted at AssemblyAI");
    }
    heard
}

/// A completed transcript's words (milliseconds to seconds), utterances
/// and language.
pub(super) fn read(t: &Value) -> Result<Heard, CloudError> {
    let ms = |v: &Value, f: &str| num(v, f).map(|x| x / 1000.0);
    let words = t
        .get("words")
        .and_then(Value::as_array)
        .ok_or_else(|| CloudError::Malformed("no `words`".into()))?
        .iter()
        .map(|w| {
            Ok(CloudWord {
                start: ms(w, "start")?,
                end: ms(w, "end")?,
                text: w
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| CloudError::Malformed("a word without `text`".into()))?
                    .to_owned(),
                confidence: w
                    .get("confidence")
                    .and_then(Value::as_f64)
                    .map(|c| c as f32),
            })
        })
        .collect::<Result<Vec<_>, CloudError>>()?;
    let phrases = t
        .get("utterances")
        .and_then(Value::as_array)
        .map(|us| {
            us.iter()
                .filter_map(|u| Some((ms(u, "start").ok()?, ms(u, "end").ok()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Heard {
        words,
        phrases,
        language: t
            .get("language_code")
            .and_then(Value::as_str)
            .and_then(language_code),
        language_probability: t
            .get("language_confidence")
            .and_then(Value::as_f64)
            .map(|p| p as f32),
    })
}

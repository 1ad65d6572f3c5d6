//! A local server that stands in for Deepgram, AssemblyAI and an
//! OpenAI-compatible transcription endpoint in tests: it checks each
//! request's shape as their documentation gives it (paths, auth header,
//! query, content type, multipart fields, an Ogg body), answers with
//! their documented success and error bodies, and keeps every request for
//! the test to look at. It cannot hear: a success carries the words it was
//! started with. Not in the binary (feature `bench`, for the e2e tests).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Multipart, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

/// Which API a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Deepgram,
    Assemblyai,
    Openai,
}

/// What the next transcription request (Deepgram's listen, AssemblyAI's
/// upload, OpenAI's transcriptions) gets instead of a transcript.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The API's documented error body for this status; `Retry-After`
    /// seconds when given.
    Status(u16, Option<u64>),
    /// A 429 whose body says the quota (not the rate) is used up.
    QuotaUsedUp,
    /// No answer for this long.
    Hang(Duration),
    /// 200 with a body that is not JSON.
    Malformed,
    /// AssemblyAI only: the transcript ends with `status: error`.
    TranscriptError,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Seen {
    pub api: Api,
    pub method: &'static str,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Multipart text fields (OpenAI), in order, or a JSON body's
    /// top-level fields (AssemblyAI's transcript request).
    pub fields: Vec<(String, String)>,
    /// Bytes of audio it carried.
    pub audio_bytes: usize,
    /// What did not match the documented request; empty when it did.
    pub problems: Vec<String>,
}

struct Inner {
    key: String,
    words: Vec<(String, f64, f64)>,
    faults: Mutex<VecDeque<Fault>>,
    seen: Mutex<Vec<Seen>>,
    uploads: Mutex<Vec<String>>,
    /// Transcript id: polls left before it completes, and whether it fails.
    transcripts: Mutex<HashMap<String, (u32, bool)>>,
    base_url: Mutex<String>,
}

/// The running stand-in; stops when dropped.
pub struct StandIn {
    pub base_url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Serves on a loopback port; accepts `key` and answers successes
    /// with `words` (`(text, start, end)`, seconds of the audio sent).
    pub async fn start(key: &str, words: &[(&str, f64, f64)]) -> Self {
        let inner = Arc::new(Inner {
            key: key.to_owned(),
            words: words
                .iter()
                .map(|(t, s, e)| ((*t).to_owned(), *s, *e))
                .collect(),
            faults: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            uploads: Mutex::new(Vec::new()),
            transcripts: Mutex::new(HashMap::new()),
            base_url: Mutex::new(String::new()),
        });
        let app = Router::new()
            .route("/v1/listen", post(deepgram))
            .route("/v2/upload", post(upload))
            .route("/v2/transcript", post(create))
            .route("/v2/transcript/{id}", get(poll).delete(delete))
            .route("/v1/audio/transcriptions", post(openai))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        base_url.clone_into(&mut inner.base_url.lock().expect("not poisoned"));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the stand-in serves");
        });
        Self {
            base_url,
            inner,
            task,
        }
    }

    /// Queues faults for the next transcription requests, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner
            .faults
            .lock()
            .expect("not poisoned")
            .extend(faults);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().expect("not poisoned").clone()
    }
}

/// The documented error body of `api` for `status`.
pub fn error_body(api: Api, status: u16) -> Value {
    let (dg, oa, msg) = match status {
        401 => ("INVALID_AUTH", "invalid_api_key", "Invalid credentials."),
        402 => (
            "ASR_PAYMENT_REQUIRED",
            "insufficient_quota",
            "Project does not have enough credits.",
        ),
        403 => (
            "INSUFFICIENT_PERMISSIONS",
            "permission_denied",
            "Insufficient permissions.",
        ),
        413 => (
            "PAYLOAD_TOO_LARGE",
            "request_too_large",
            "Maximum content size limit exceeded.",
        ),
        429 => (
            "TOO_MANY_REQUESTS",
            "rate_limit_exceeded",
            "Too many requests. Please try again later.",
        ),
        400 => (
            "Bad Request",
            "invalid_request_error",
            "The request is not what the API documents.",
        ),
        _ => (
            "INTERNAL_SERVER_ERROR",
            "server_error",
            "The server had an error while processing your request.",
        ),
    };
    match api {
        Api::Deepgram => {
            json!({"err_code": dg, "err_msg": msg, "request_id": uuid::Uuid::new_v4()})
        }
        Api::Assemblyai => json!({"error": msg}),
        Api::Openai => json!({"error": {
            "message": msg,
            "type": if status >= 500 { "server_error" } else { "invalid_request_error" },
            "param": null,
            "code": oa,
        }}),
    }
}

fn error(api: Api, status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).expect("a valid status");
    let mut r = (code, Json(error_body(api, status))).into_response();
    if let Some(s) = retry_after {
        r.headers_mut()
            .insert("retry-after", s.to_string().parse().expect("digits"));
    }
    r
}

impl Inner {
    fn keep(&self, seen: Seen) {
        self.seen.lock().expect("not poisoned").push(seen);
    }

    /// The next fault's answer, if one is queued.
    async fn fault(&self, api: Api) -> Option<Response> {
        let fault = self.faults.lock().expect("not poisoned").pop_front()?;
        Some(match fault {
            Fault::Status(status, retry_after) => error(api, status, retry_after),
            Fault::QuotaUsedUp => {
                let mut body = error_body(api, 429);
                if api == Api::Openai {
                    body["error"]["code"] = json!("insufficient_quota");
                    body["error"]["type"] = json!("insufficient_quota");
                }
                (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
            }
            Fault::Hang(d) => {
                tokio::time::sleep(d).await;
                StatusCode::GATEWAY_TIMEOUT.into_response()
            }
            Fault::Malformed => (StatusCode::OK, "{\"results\": [tru").into_response(),
            Fault::TranscriptError => {
                self.faults
                    .lock()
                    .expect("not poisoned")
                    .push_front(Fault::TranscriptError);
                return None;
            }
        })
    }

    fn auth(&self, headers: &HeaderMap, expected: &str) -> bool {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected)
    }
}

fn ogg(body: &[u8], problems: &mut Vec<String>) {
    if !body.starts_with(b"OggS") {
        problems.push("the body is not Ogg audio".into());
    }
}

async fn deepgram(
    State(s): State<Arc<Inner>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut problems = Vec::new();
    let authed = s.auth(&headers, &format!("Token {}", s.key));
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("audio/ogg") {
        problems.push("Content-Type is not audio/ogg".into());
    }
    ogg(&body, &mut problems);
    for (k, v) in [
        ("punctuate", "true"),
        ("diarize", "true"),
        ("utterances", "true"),
    ] {
        if query.get(k).map(String::as_str) != Some(v) {
            problems.push(format!("query {k} is not {v}"));
        }
    }
    if !query.contains_key("model") {
        problems.push("no model in the query".into());
    }
    if query.contains_key("language") == query.contains_key("detect_language") {
        problems.push("exactly one of language and detect_language".into());
    }
    s.keep(Seen {
        api: Api::Deepgram,
        method: "POST",
        path: "/v1/listen".into(),
        query,
        fields: Vec::new(),
        audio_bytes: body.len(),
        problems: problems.clone(),
    });
    if !authed {
        return error(Api::Deepgram, 401, None);
    }
    if !problems.is_empty() {
        return error(Api::Deepgram, 400, None);
    }
    if let Some(r) = s.fault(Api::Deepgram).await {
        return r;
    }
    let words: Vec<Value> = s
        .words
        .iter()
        .map(|(t, a, b)| {
            json!({
                "word": t.trim_end_matches(['.', ',', '?', '!']).to_lowercase(),
                "start": a, "end": b, "confidence": 0.98,
                "speaker": 0, "speaker_confidence": 0.9, "punctuated_word": t,
            })
        })
        .collect();
    let transcript = s
        .words
        .iter()
        .map(|w| w.0.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let end = s.words.last().map_or(0.0, |w| w.2);
    Json(json!({
        "metadata": {"request_id": uuid::Uuid::new_v4(), "duration": end, "channels": 1},
        "results": {
            "channels": [{
                "detected_language": "en",
                "language_confidence": 0.97,
                "alternatives": [{"transcript": transcript, "confidence": 0.98, "words": words}],
            }],
            "utterances": [{"start": 0.0, "end": end, "transcript": transcript, "speaker": 0,
                            "channel": 0, "confidence": 0.98, "words": []}],
        },
    }))
    .into_response()
}

async fn upload(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut problems = Vec::new();
    let authed = s.auth(&headers, &s.key);
    ogg(&body, &mut problems);
    s.keep(Seen {
        api: Api::Assemblyai,
        method: "POST",
        path: "/v2/upload".into(),
        query: BTreeMap::new(),
        fields: Vec::new(),
        audio_bytes: body.len(),
        problems: problems.clone(),
    });
    if !authed {
        return error(Api::Assemblyai, 401, None);
    }
    if !problems.is_empty() {
        return error(Api::Assemblyai, 400, None);
    }
    if let Some(r) = s.fault(Api::Assemblyai).await {
        return r;
    }
    let base = s.base_url.lock().expect("not poisoned").clone();
    let url = format!("{base}/cdn/upload/{}", uuid::Uuid::new_v4());
    s.uploads.lock().expect("not poisoned").push(url.clone());
    Json(json!({"upload_url": url})).into_response()
}

async fn create(State(s): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut problems = Vec::new();
    let authed = s.auth(&headers, &s.key);
    let ask: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let audio_url = ask.get("audio_url").and_then(Value::as_str).unwrap_or("");
    if !s
        .uploads
        .lock()
        .expect("not poisoned")
        .iter()
        .any(|u| u == audio_url)
    {
        problems.push("audio_url is not an uploaded file".into());
    }
    if ask.get("speaker_labels") != Some(&json!(true)) {
        problems.push("speaker_labels is not true".into());
    }
    if ask.get("speech_model").and_then(Value::as_str).is_none() {
        problems.push("no speech_model".into());
    }
    if ask.get("language_code").is_some() == (ask.get("language_detection") == Some(&json!(true))) {
        problems.push("exactly one of language_code and language_detection".into());
    }
    let fields = ask
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
        .unwrap_or_default();
    s.keep(Seen {
        api: Api::Assemblyai,
        method: "POST",
        path: "/v2/transcript".into(),
        query: BTreeMap::new(),
        fields,
        audio_bytes: 0,
        problems: problems.clone(),
    });
    if !authed {
        return error(Api::Assemblyai, 401, None);
    }
    if !problems.is_empty() {
        return error(Api::Assemblyai, 400, None);
    }
    let fails = matches!(
        s.faults.lock().expect("not poisoned").front(),
        Some(Fault::TranscriptError)
    );
    if fails {
        s.faults.lock().expect("not poisoned").pop_front();
    }
    let id = uuid::Uuid::new_v4().to_string();
    s.transcripts
        .lock()
        .expect("not poisoned")
        .insert(id.clone(), (1, fails));
    Json(json!({"id": id, "status": "queued", "audio_url": audio_url})).into_response()
}

async fn poll(State(s): State<Arc<Inner>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let authed = s.auth(&headers, &s.key);
    s.keep(Seen {
        api: Api::Assemblyai,
        method: "GET",
        path: format!("/v2/transcript/{id}"),
        query: BTreeMap::new(),
        fields: Vec::new(),
        audio_bytes: 0,
        problems: Vec::new(),
    });
    if !authed {
        return error(Api::Assemblyai, 401, None);
    }
    let state = {
        let mut all = s.transcripts.lock().expect("not poisoned");
        let Some(t) = all.get_mut(&id) else {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "Transcript not found"})),
            )
                .into_response();
        };
        let now = *t;
        t.0 = t.0.saturating_sub(1);
        now
    };
    match state {
        (1.., _) => Json(json!({"id": id, "status": "processing"})).into_response(),
        (0, true) => Json(json!({
            "id": id, "status": "error",
            "error": "Transcoding failed. File does not appear to contain audio.",
        }))
        .into_response(),
        (0, false) => {
            let words: Vec<Value> = s
                .words
                .iter()
                .map(|(t, a, b)| {
                    json!({
                        "text": t, "start": (a * 1000.0).round() as i64,
                        "end": (b * 1000.0).round() as i64, "confidence": 0.95, "speaker": "A",
                    })
                })
                .collect();
            let text = s
                .words
                .iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let end = s.words.last().map_or(0.0, |w| w.2);
            Json(json!({
                "id": id, "status": "completed", "text": text, "words": words,
                "utterances": [{"speaker": "A", "start": 0, "end": (end * 1000.0).round() as i64,
                                "text": text, "confidence": 0.95, "words": []}],
                "language_code": "en", "language_confidence": 0.96,
                "audio_duration": end.ceil() as i64,
            }))
            .into_response()
        }
    }
}

async fn delete(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let authed = s.auth(&headers, &s.key);
    s.keep(Seen {
        api: Api::Assemblyai,
        method: "DELETE",
        path: format!("/v2/transcript/{id}"),
        query: BTreeMap::new(),
        fields: Vec::new(),
        audio_bytes: 0,
        problems: Vec::new(),
    });
    if !authed {
        return error(Api::Assemblyai, 401, None);
    }
    s.transcripts.lock().expect("not poisoned").remove(&id);
    Json(json!({"id": id, "status": "completed", "text": null, "words": null})).into_response()
}

async fn openai(State(s): State<Arc<Inner>>, headers: HeaderMap, mut form: Multipart) -> Response {
    let mut problems = Vec::new();
    let authed = s.auth(&headers, &format!("Bearer {}", s.key));
    let mut fields = Vec::new();
    let mut audio = 0;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                if name == "file" {
                    if field.file_name().is_none() {
                        problems.push("file has no file name".into());
                    }
                    if field.content_type() != Some("audio/ogg") {
                        problems.push("file is not audio/ogg".into());
                    }
                    let bytes = field.bytes().await.unwrap_or_default();
                    ogg(&bytes, &mut problems);
                    audio = bytes.len();
                } else {
                    fields.push((name, field.text().await.unwrap_or_default()));
                }
            }
            Ok(None) => break,
            Err(e) => {
                problems.push(format!("not a multipart form: {e}"));
                break;
            }
        }
    }
    let has = |k: &str, v: &str| fields.iter().any(|(a, b)| a == k && b == v);
    if audio == 0 {
        problems.push("no file".into());
    }
    if !fields.iter().any(|(k, _)| k == "model") {
        problems.push("no model".into());
    }
    if !has("response_format", "verbose_json") {
        problems.push("response_format is not verbose_json".into());
    }
    if !has("timestamp_granularities[]", "word") || !has("timestamp_granularities[]", "segment") {
        problems.push("timestamp_granularities[] lacks word or segment".into());
    }
    s.keep(Seen {
        api: Api::Openai,
        method: "POST",
        path: "/v1/audio/transcriptions".into(),
        query: BTreeMap::new(),
        fields,
        audio_bytes: audio,
        problems: problems.clone(),
    });
    if !authed {
        return error(Api::Openai, 401, None);
    }
    if !problems.is_empty() {
        return error(Api::Openai, 400, None);
    }
    if let Some(r) = s.fault(Api::Openai).await {
        return r;
    }
    let bare = |t: &str| t.trim_end_matches(['.', ',', '?', '!']).to_owned();
    let words: Vec<Value> = s
        .words
        .iter()
        .map(|(t, a, b)| json!({"word": bare(t), "start": a, "end": b}))
        .collect();
    let text = s
        .words
        .iter()
        .map(|w| w.0.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let end = s.words.last().map_or(0.0, |w| w.2);
    Json(json!({
        "task": "transcribe", "language": "english", "duration": end, "text": text,
        "words": words,
        "segments": [{
            "id": 0, "seek": 0, "start": 0.0, "end": end, "text": format!(" {text}"),
            "tokens": [50364, 440], "temperature": 0.0, "avg_logprob": -0.2,
            "compression_ratio": 1.1, "no_speech_prob": 0.01,
        }],
    }))
    .into_response()
}

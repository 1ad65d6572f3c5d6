//! A local HTTP server that stands in for Gemini and OpenAI-compatible
//! endpoints in tests: canned replies in order, every request kept for
//! the test to check.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// What the stub answers, in order; the last one repeats.
#[derive(Clone)]
pub(crate) enum Canned {
    Json(StatusCode, Value, Option<&'static str>),
    Text(StatusCode, &'static str),
    Hang(Duration),
    /// A redirect (301, 302, 307 or 308) to this URL.
    Redirect(StatusCode, String),
}

#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
pub(crate) struct Stub {
    replies: Arc<Mutex<VecDeque<Canned>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

async fn answer(State(stub): State<Stub>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    stub.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = {
        let mut replies = stub.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies.front().cloned().unwrap()
        }
    };
    match reply {
        Canned::Json(status, body, retry_after) => {
            let mut r = (status, axum::Json(body)).into_response();
            if let Some(v) = retry_after {
                r.headers_mut().insert("retry-after", v.parse().unwrap());
            }
            r
        }
        Canned::Text(status, text) => (status, text).into_response(),
        Canned::Hang(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        Canned::Redirect(status, to) => (status, [("location", to)]).into_response(),
    }
}

pub(crate) async fn serve(replies: Vec<Canned>) -> (String, Stub) {
    let stub = Stub {
        replies: Arc::new(Mutex::new(replies.into())),
        ..Stub::default()
    };
    let app = Router::new()
        .route("/{*path}", post(answer))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), stub)
}

/// A `generateContent` reply as Google documents it.
pub(crate) fn gemini_reply(text: &str) -> Value {
    json!({
        "candidates": [{
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 150},
        "modelVersion": "gemini-2.5-flash"
    })
}

/// A chat completion as OpenAI (and llama-server) send it.
pub(crate) fn openai_reply(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "smollm2",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 80, "completion_tokens": 20, "total_tokens": 100}
    })
}

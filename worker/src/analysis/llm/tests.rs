//! Contract tests: the exact request shapes Google and OpenAI document, and
//! replies of their recorded shapes, from a local HTTP server that stands in
//! for them (neither can be reached from here). Failure paths: 429 with
//! `Retry-After`, 5xx, a hanging endpoint, garbage, and a 400 that must not
//! be retried.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{
    stub::{Canned, gemini_reply, openai_reply, serve},
    *,
};

fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "summary": {"type": "string", "description": "Two sentences."},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5}
        },
        "required": ["summary", "tags"]
    })
}

/// Quick retries, and the stubs' loopback address let through the guard
/// as an operator would list a llama-server beside Cutroom.
fn quick(mut c: LlmConfig) -> LlmConfig {
    c.backoff = Duration::from_millis(10);
    c.timeout = Duration::from_secs(5);
    c.private_hosts.insert("127.0.0.1".into());
    c
}

#[tokio::test]
async fn gemini_requests_have_the_documented_shape_and_replies_are_read() {
    let answer = r#"{"summary": "A talk.", "tags": ["rates"]}"#;
    let (url, stub) = serve(vec![Canned::Json(
        StatusCode::OK,
        gemini_reply(answer),
        None,
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(
        Wire::Gemini,
        &url,
        "gemini-2.5-flash",
        Some("key-123".into()),
    )));
    let reply = client
        .complete_json("Be brief.", "Transcript: ...", &schema())
        .await;
    assert_eq!(
        reply.result.unwrap(),
        json!({"summary": "A talk.", "tags": ["rates"]})
    );
    assert_eq!(
        reply.usage,
        Usage {
            requests: 1,
            retries: 0,
            prompt_tokens: 120,
            completion_tokens: 30
        }
    );
    let seen = stub.seen.lock().unwrap();
    let request = &seen[0];
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(request.headers["x-goog-api-key"], "key-123");
    assert!(request.headers.get("authorization").is_none());
    let body = &request.body;
    assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(body["contents"][0]["parts"][0]["text"], "Transcript: ...");
    let config = &body["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["maxOutputTokens"], 8192);
    // Gemini's schema dialect: upper-case types, no additionalProperties.
    let s = &config["responseSchema"];
    assert_eq!(s["type"], "OBJECT");
    assert_eq!(s["properties"]["tags"]["type"], "ARRAY");
    assert_eq!(s["properties"]["tags"]["items"]["type"], "STRING");
    assert_eq!(s["properties"]["tags"]["maxItems"], 5);
    assert_eq!(s["required"], json!(["summary", "tags"]));
    assert_eq!(s["propertyOrdering"], json!(["summary", "tags"]));
    assert!(s.get("additionalProperties").is_none());
}

#[tokio::test]
async fn openai_requests_have_the_documented_shape_and_replies_are_read() {
    // A fenced reply, as small models write despite being told.
    let answer = "```json\n{\"summary\": \"A talk.\", \"tags\": []}\n```";
    let (url, stub) = serve(vec![Canned::Json(
        StatusCode::OK,
        openai_reply(answer),
        None,
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(
        Wire::OpenAi,
        &format!("{url}/"),
        "smollm2",
        Some("sk-test".into()),
    )));
    let reply = client
        .complete_json("Be brief.", "Transcript: ...", &schema())
        .await;
    assert_eq!(
        reply.result.unwrap(),
        json!({"summary": "A talk.", "tags": []})
    );
    assert_eq!(
        (reply.usage.prompt_tokens, reply.usage.completion_tokens),
        (80, 20)
    );
    let seen = stub.seen.lock().unwrap();
    let request = &seen[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.headers["authorization"], "Bearer sk-test");
    let body = &request.body;
    assert_eq!(body["model"], "smollm2");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(body["max_tokens"], 8192);
    // OpenAI takes standard JSON Schema as it is.
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema());
}

#[tokio::test]
async fn rate_limits_wait_as_long_as_retry_after_says() {
    let (url, stub) = serve(vec![
        Canned::Json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}),
            Some("1"),
        ),
        Canned::Json(StatusCode::OK, gemini_reply(r#"{"summary": "", "tags": []}"#), None),
    ])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(Wire::Gemini, &url, "m", None)));
    let started = Instant::now();
    let reply = client.complete_json("s", "u", &schema()).await;
    assert!(reply.result.is_ok());
    assert_eq!(reply.usage.requests, 2);
    assert_eq!(reply.usage.retries, 1);
    assert_eq!(stub.seen.lock().unwrap().len(), 2);
    // The wait is the server's, not the 10 ms backoff.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_given_up_on() {
    let (url, _) = serve(vec![
        Canned::Text(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        Canned::Text(StatusCode::SERVICE_UNAVAILABLE, "busy"),
        Canned::Json(
            StatusCode::OK,
            openai_reply(r#"{"summary": "ok", "tags": []}"#),
            None,
        ),
    ])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(Wire::OpenAi, &url, "m", None)));
    let reply = client.complete_json("s", "u", &schema()).await;
    assert_eq!(reply.result.unwrap()["summary"], "ok");
    assert_eq!(reply.usage.requests, 3);

    let (url, stub) = serve(vec![Canned::Text(StatusCode::BAD_GATEWAY, "down")]).await;
    let client = LlmClient::new(quick(LlmConfig::new(Wire::OpenAi, &url, "m", None)));
    let reply = client.complete_json("s", "u", &schema()).await;
    assert!(
        matches!(reply.result, Err(LlmError::Status { status: 502, .. })),
        "{:?}",
        reply.result.err()
    );
    assert_eq!(reply.usage.requests, 4, "max_attempts");
    assert_eq!(reply.usage.retries, 3);
    assert_eq!(stub.seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_on_every_attempt() {
    let (url, stub) = serve(vec![Canned::Hang(Duration::from_secs(5))]).await;
    let mut config = quick(LlmConfig::new(Wire::Gemini, &url, "m", None));
    config.timeout = Duration::from_millis(200);
    config.max_attempts = 2;
    let reply = LlmClient::new(config)
        .complete_json("s", "u", &schema())
        .await;
    assert!(
        matches!(reply.result, Err(LlmError::Timeout(_))),
        "{:?}",
        reply.result.err()
    );
    assert_eq!(stub.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn garbage_and_client_errors_are_not_retried() {
    for canned in [
        Canned::Text(StatusCode::OK, "<html>proxy error</html>"),
        Canned::Json(
            StatusCode::OK,
            gemini_reply("Sure! Here is the summary: it is a talk."),
            None,
        ),
        Canned::Json(
            StatusCode::OK,
            json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]}),
            None,
        ),
    ] {
        let (url, stub) = serve(vec![canned]).await;
        let client = LlmClient::new(quick(LlmConfig::new(Wire::Gemini, &url, "m", None)));
        let reply = client.complete_json("s", "u", &schema()).await;
        assert!(
            matches!(reply.result, Err(LlmError::Malformed(_))),
            "{:?}",
            reply.result.err()
        );
        assert_eq!(stub.seen.lock().unwrap().len(), 1);
    }
    let (url, stub) = serve(vec![Canned::Json(
        StatusCode::BAD_REQUEST,
        json!({"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}),
        None,
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(
        Wire::Gemini,
        &url,
        "m",
        Some("bad".into()),
    )));
    let reply = client.complete_json("s", "u", &schema()).await;
    match reply.result {
        Err(LlmError::Status {
            status: 400,
            reason,
        }) => assert_eq!(reason, Some("INVALID_ARGUMENT")),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(stub.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_answer_cut_off_at_the_token_limit_says_so() {
    let mut cut = openai_reply(r#"{"summary": "It goes on and on and on"#);
    cut["choices"][0]["finish_reason"] = json!("length");
    let (url, _stub) = serve(vec![Canned::Json(StatusCode::OK, cut, None)]).await;
    let mut config = quick(LlmConfig::new(Wire::OpenAi, &url, "m", None));
    config.max_output_tokens = 64;
    let reply = LlmClient::new(config)
        .complete_json("s", "u", &schema())
        .await;
    match reply.result {
        Err(LlmError::Malformed(why)) => {
            assert!(why.contains("cut off at 64 tokens"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retry_after_reads_seconds_and_dates() {
    assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon"), None);
    for _ in 0..100 {
        assert!(jittered(Duration::from_millis(100)) <= Duration::from_millis(100));
    }
}

/// An endpoint that redirects is not followed: the key header never
/// reaches the redirect's target (a 307 keeps method, body and headers).
#[tokio::test]
async fn redirects_are_not_followed_and_the_key_stays_with_the_endpoint() {
    let (target, stolen) = serve(vec![Canned::Json(
        StatusCode::OK,
        gemini_reply(r#"{"summary": "", "tags": []}"#),
        None,
    )])
    .await;
    for status in [StatusCode::TEMPORARY_REDIRECT, StatusCode::FOUND] {
        let (url, stub) = serve(vec![Canned::Redirect(status, format!("{target}/steal"))]).await;
        let client = LlmClient::new(quick(LlmConfig::new(
            Wire::Gemini,
            &url,
            "gemini-2.5-flash",
            Some("AIza-owner-secret".into()),
        )));
        let reply = client.complete_json("s", "u", &schema()).await;
        assert!(
            stolen.seen.lock().unwrap().is_empty(),
            "the redirect was followed: {:?}",
            stolen.seen.lock().unwrap()
        );
        match reply.result {
            Err(e @ LlmError::Status { .. }) => {
                assert!(e.to_string().contains(status.as_str()), "{e}");
                assert!(e.to_string().contains("redirect"), "{e}");
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(stub.seen.lock().unwrap().len(), 1, "not retried");
    }
}

/// The endpoint's error body is the endpoint's business (an internal
/// service's body can hold its secrets): only the status and a known
/// machine-readable reason are kept.
#[tokio::test]
async fn error_bodies_are_summarised_never_echoed() {
    let (url, _) = serve(vec![Canned::Text(
        StatusCode::NOT_FOUND,
        "no route /internal/admin; db_password=hunter2-SECRET",
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(Wire::Gemini, &url, "m", None)));
    let error = client
        .complete_json("s", "u", &schema())
        .await
        .result
        .unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("internal"), "{shown}");
    assert!(shown.contains("404"), "{shown}");

    let (url, _) = serve(vec![Canned::Json(
        StatusCode::BAD_REQUEST,
        json!({"error": {"code": 400, "message": "API key not valid: token=sk-live-SECRET", "status": "INVALID_ARGUMENT"}}),
        None,
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(Wire::Gemini, &url, "m", None)));
    let shown = client
        .complete_json("s", "u", &schema())
        .await
        .result
        .unwrap_err()
        .to_string();
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(
        shown.contains("400") && shown.contains("INVALID_ARGUMENT"),
        "{shown}"
    );
}

/// A loopback or private endpoint is not called unless the operator
/// listed it (the stubs of the other tests are).
#[tokio::test]
async fn internal_endpoints_are_refused_unless_allowed() {
    let (url, stub) = serve(vec![Canned::Json(
        StatusCode::OK,
        openai_reply(r#"{"summary": "", "tags": []}"#),
        None,
    )])
    .await;
    let port = url.rsplit(':').next().unwrap().to_owned();
    for base in [url.clone(), format!("http://localhost:{port}")] {
        let client = LlmClient::new(LlmConfig::new(Wire::OpenAi, &base, "m", Some("sk".into())));
        let reply = client.complete_json("s", "u", &schema()).await;
        assert!(reply.result.is_err(), "{base}");
    }
    assert!(
        stub.seen.lock().unwrap().is_empty(),
        "{:?}",
        stub.seen.lock().unwrap()
    );
}

/// The job's deadline ends a request the endpoint's own timeout would let
/// run, and no retry starts after it.
#[tokio::test]
async fn the_deadline_cuts_requests_and_retries_short() {
    let (url, stub) = serve(vec![Canned::Hang(Duration::from_secs(3600))]).await;
    let mut config = quick(LlmConfig::new(Wire::OpenAi, &url, "m", None));
    config.timeout = Duration::from_secs(600);
    config.deadline = Some(Deadline::after(Duration::from_millis(300)));
    let reply = LlmClient::new(config)
        .complete_json("s", "u", &schema())
        .await;
    match reply.result {
        Err(e @ LlmError::Deadline(_)) => assert!(e.to_string().contains("deadline"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(reply.usage.requests, 1);
    assert_eq!(stub.seen.lock().unwrap().len(), 1);

    // Past the deadline, nothing is sent at all.
    let (url, stub) = serve(vec![Canned::Text(StatusCode::SERVICE_UNAVAILABLE, "busy")]).await;
    let mut config = quick(LlmConfig::new(Wire::OpenAi, &url, "m", None));
    config.deadline = Some(Deadline::after(Duration::ZERO));
    let reply = LlmClient::new(config)
        .complete_json("s", "u", &schema())
        .await;
    assert!(
        matches!(reply.result, Err(LlmError::Deadline(_))),
        "{:?}",
        reply.result.err()
    );
    assert_eq!(reply.usage.requests, 0);
    assert!(stub.seen.lock().unwrap().is_empty());
}

/// A model name that would choose the request's path is refused before
/// anything is sent.
#[tokio::test]
async fn a_model_that_is_a_path_is_not_sent() {
    let (url, stub) = serve(vec![Canned::Json(
        StatusCode::OK,
        gemini_reply(r#"{"summary": "", "tags": []}"#),
        None,
    )])
    .await;
    let client = LlmClient::new(quick(LlmConfig::new(
        Wire::Gemini,
        &url,
        "../../internal/admin#",
        Some("AIza-key".into()),
    )));
    let reply = client.complete_json("s", "u", &schema()).await;
    assert!(
        matches!(reply.result, Err(LlmError::Refused(_))),
        "{:?}",
        reply.result.err()
    );
    assert!(stub.seen.lock().unwrap().is_empty());
}

//! The transcription router through the whole pipeline, against the
//! cloud speech stand-in (`cutroom_worker::speech_standin`): a cloud engine
//! that fails hands over to the local one and the job records it; a
//! refused key is not retried and the job says why; a small budget routes
//! to the cheapest engine, a spent one refuses new jobs; and the costs add
//! up in `/v1/jobs/{id}/cost` and `/v1/usage`.

use std::time::Duration;

use cutroom_tests::{Db, Session, SourceServer, TestApp, both_dbs, email, media};
use cutroom_worker::speech_standin::{Fault, StandIn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const JOB_LIMIT: Duration = Duration::from_secs(180);
const KEY: &str = "dg-stand-in-key-4321";
const WORDS: &[(&str, f64, f64)] = &[
    ("Routing", 0.10, 0.52),
    ("works,", 0.55, 0.95),
    ("my", 1.00, 1.12),
    ("friends.", 1.15, 1.60),
];

async fn start(db: Db, standin: &StandIn, source: &SourceServer) -> TestApp {
    let host = standin.base_url.trim_start_matches("http://").to_owned();
    TestApp::builder(db)
        .allow_source(source)
        .configure(move |c| {
            // The operator lets the loopback stand-in in, as it would a
            // speech API inside its own network.
            c.llm_private_hosts.insert(host);
            c.router.cloud_backoff = Duration::from_millis(20);
            // A job waiting for its budget looks again within a second.
            c.router.budget_recheck = Duration::from_secs(1);
        })
        .start()
        .await
}

async fn settings(app: &TestApp, s: &Session, patch: Value) -> Value {
    let (status, body) = app
        .request(
            Method::PATCH,
            "/v1/tenant/settings",
            Some(&s.access_token),
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn run(app: &TestApp, s: &Session, url: &str, options: Value) -> (String, Value) {
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": url}, "options": options}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    (id, job)
}

async fn cost(app: &TestApp, s: &Session, id: &str) -> Value {
    let (status, cost) = app
        .get(&format!("/v1/jobs/{id}/cost"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{cost}");
    let stages: f64 = cost["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(
        (stages - cost["cost_usd"].as_f64().unwrap()).abs() < 1e-12,
        "{cost}"
    );
    cost
}

async fn falls_back_and_costs_add_up(db: Db) {
    let standin = StandIn::start(KEY, WORDS).await;
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "Routing works, my friends. We begin.",
    );
    let app = start(db, &standin, &source).await;
    let s = app.signup(&email("route"), "Routed").await;
    let shown = settings(
        &app,
        &s,
        json!({"transcription": {"tier": "accurate", "cloud": {"deepgram": {
            "base_url": standin.base_url, "api_key": KEY}}}}),
    )
    .await;
    let deepgram = &shown["transcription"]["cloud"]["deepgram"];
    assert_eq!(deepgram["api_key_hint"], "…4321", "{shown}");
    assert!(!shown.to_string().contains(KEY), "{shown}");

    // Deepgram answers 503 to every try: the accurate tier chose it, the
    // router gave up after three requests and the local engine took over.
    standin.fail_next(std::iter::repeat_n(Fault::Status(503, None), 3));
    let (failed_over, job) = run(&app, &s, &source.url("talk.mp4"), json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let first = cost(&app, &s, &failed_over).await;
    let route = &first["transcription"];
    assert_eq!(route["chosen"], "local", "{first:#}");
    assert_eq!(route["requested"], "auto");
    assert_eq!(route["tier"], "accurate");
    assert!(
        route["reason"].as_str().unwrap().contains("accurate tier"),
        "{route}"
    );
    let attempts = route["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{route:#}");
    assert_eq!(attempts[0]["engine"], "deepgram");
    assert_eq!(attempts[0]["outcome"], "server_error");
    assert_eq!(attempts[0]["requests"], 3);
    assert_eq!(attempts[0]["cost_usd"], 0.0);
    assert_eq!(attempts[1]["engine"], "local");
    assert_eq!(attempts[1]["outcome"], "ok");
    assert!(first["cost_usd"].as_f64().unwrap() > 0.0, "{first}");
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("after 1 engine failed"),
        "{first}"
    );
    assert_eq!(standin.seen().len(), 3);

    // The next job gets Deepgram's words, on the source's timeline, and
    // pays its price for the speech sent (not the whole file).
    let (clouded, job) = run(&app, &s, &source.url("talk.mp4"), json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, transcript) = app
        .get(&format!("/v1/jobs/{clouded}/transcript"), &s.access_token)
        .await;
    assert_eq!(transcript["model"], "deepgram:nova-3", "{transcript}");
    assert_eq!(transcript["language"], "en");
    let text: Vec<&str> = transcript["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(text.join(" "), "Routing works, my friends.", "{transcript}");
    let second = cost(&app, &s, &clouded).await;
    let route = &second["transcription"];
    assert_eq!(route["chosen"], "deepgram", "{second:#}");
    let sent = standin.seen().last().unwrap().audio_bytes;
    assert!(sent > 0 && sent < 200_000, "{sent} bytes of Opus");
    let deepgram_cost = route["attempts"][0]["cost_usd"].as_f64().unwrap();
    let speech = route["speech_seconds"].as_f64().unwrap();
    let duration = media::duration(&source.path("talk.mp4"));
    // Speech and the pauses between its pieces, at $0.0043 a minute; less
    // than the whole file would cost.
    assert!(deepgram_cost >= speech / 60.0 * 0.0043 * 0.99, "{route}");
    assert!(deepgram_cost < duration / 60.0 * 0.0043 * 1.5, "{route}");

    // The month's usage holds both jobs' costs, line by line.
    let (_, usage) = app.get("/v1/usage", &s.access_token).await;
    let lines: f64 = usage["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cost_usd"].as_f64().unwrap())
        .sum();
    let total = usage["cost_usd"].as_f64().unwrap();
    let jobs = first["cost_usd"].as_f64().unwrap() + second["cost_usd"].as_f64().unwrap();
    assert!((lines - total).abs() < 1e-9, "{usage:#}");
    assert!((total - jobs).abs() < 1e-9, "{total} against {jobs}");
    let transcribe: Vec<&str> = usage["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["stage"] == "transcribe")
        .map(|l| l["model"].as_str().unwrap())
        .collect();
    assert!(transcribe.contains(&"deepgram:nova-3"), "{transcribe:?}");
    assert!(app.scratch_entries().is_empty());
}
both_dbs!(
    a_failing_cloud_engine_hands_over_and_costs_add_up,
    super::falls_back_and_costs_add_up
);

async fn keys_and_budgets(db: Db) {
    let standin = StandIn::start(KEY, WORDS).await;
    let source = SourceServer::start().await;
    media::spoken(&source.path("talk.mp4"), "Routing works, my friends.");
    let app = start(db, &standin, &source).await;
    let s = app.signup(&email("keys"), "Keyed").await;

    // A job that names an engine whose key is wrong: one request, no
    // retry, no other engine, and the job says why.
    settings(
        &app,
        &s,
        json!({"transcription": {"cloud": {
            "openai": {"base_url": standin.base_url, "api_key": "sk-wrong-key"},
            "deepgram": {"base_url": standin.base_url, "api_key": KEY, "price_per_minute": 0.5}}}}),
    )
    .await;
    let (refused, job) = run(
        &app,
        &s,
        &source.url("talk.mp4"),
        json!({"transcription": {"engine": "openai"}}),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "engine_key_refused", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("openai") && message.contains("API key"),
        "{message}"
    );
    assert_eq!(standin.seen().len(), 1, "a refused key is not tried again");
    let (_, events) = app
        .get(&format!("/v1/jobs/{refused}/events"), &s.access_token)
        .await;
    let told = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "engine_key_refused")
        .unwrap_or_else(|| panic!("no engine_key_refused event: {events:#}"));
    assert_eq!(told["data"]["engine"], "openai", "{told}");
    assert!(!events.to_string().contains("sk-wrong"), "{events}");

    // Naming an engine the tenant has no key for is refused at once.
    let (status, body) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("talk.mp4")},
                   "options": {"transcription": {"engine": "assemblyai"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("assemblyai.api_key"),
        "{body}"
    );

    // A $0.01 budget: the accurate tier would take Deepgram, whose
    // estimate at this tenant's price ($0.50 a minute) is over it; the
    // router takes the cheapest engine that fits, the local one.
    settings(
        &app,
        &s,
        json!({"transcription": {"cloud": {"openai": null}}, "budget": {"monthly_usd": 0.01}}),
    )
    .await;
    let before = standin.seen().len();
    let (cheap, job) = run(
        &app,
        &s,
        &source.url("talk.mp4"),
        json!({"transcription": {"tier": "accurate"}}),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let route = cost(&app, &s, &cheap).await["transcription"].clone();
    assert_eq!(route["chosen"], "local", "{route:#}");
    assert!(
        route["budget_left_usd"].as_f64().unwrap() <= 0.01,
        "{route}"
    );
    let deepgram = route["considered"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["engine"] == "deepgram")
        .unwrap();
    assert!(
        deepgram["set_aside"]
            .as_str()
            .unwrap()
            .contains("over the budget"),
        "{deepgram}"
    );
    assert_eq!(standin.seen().len(), before, "Deepgram was not called");
    let (_, usage) = app.get("/v1/usage", &s.access_token).await;
    assert_eq!(usage["budget"]["monthly_usd"], 0.01, "{usage}");
    assert_eq!(usage["budget"]["at_limit"], "cheapest", "{usage}");

    // A spent budget whose tenant chose `fail` refuses new jobs.
    settings(
        &app,
        &s,
        json!({"budget": {"monthly_usd": 0.0, "at_limit": "fail"}}),
    )
    .await;
    let (status, body) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("talk.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "budget_exceeded", "{body}");

    // One that chose `wait` takes the job, which waits in line (this
    // attempt uncounted) until the budget is raised, then runs.
    settings(
        &app,
        &s,
        json!({"budget": {"monthly_usd": 0.0, "at_limit": "wait"}}),
    )
    .await;
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("talk.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let waiting = job["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + JOB_LIMIT;
    let data = loop {
        let (_, history) = app
            .get(&format!("/v1/jobs/{waiting}/events"), &s.access_token)
            .await;
        let found = history
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "status" && e["message"] == "waiting_for_budget");
        if let Some(e) = found {
            break e["data"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{history:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(data["code"], "budget_exceeded", "{data}");
    assert!(
        data["message"].as_str().unwrap().contains("at_limit: wait"),
        "{data}"
    );
    assert!(data["retry_at"].is_string(), "{data}");
    let (_, job) = app
        .get(&format!("/v1/jobs/{waiting}"), &s.access_token)
        .await;
    assert_ne!(job["status"], "failed", "{job}");
    settings(&app, &s, json!({"budget": {"monthly_usd": 100.0}})).await;
    let job = app.wait_for_job(&s.access_token, &waiting, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let history = app.status_events(&s.access_token, &waiting).await;
    let messages: Vec<&str> = history.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        messages.starts_with(&["queued", "running", "waiting_for_budget"]),
        "{messages:?}"
    );
    assert_eq!(messages.last(), Some(&"succeeded"), "{messages:?}");
    // The wait did not count as a run: one attempt, the one that ran.
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(app.scratch_entries().is_empty());
}
both_dbs!(
    a_refused_key_stops_and_a_budget_routes_to_the_cheapest,
    super::keys_and_budgets
);

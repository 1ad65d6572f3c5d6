//! Usage metering and monthly quotas: each stage of a job is metered once
//! with its model, `GET /v1/usage` reports it per tenant, and an operator's
//! quota refuses new work once used up and fails at probe a source that
//! does not fit in what is left, before anything costly runs.

use std::time::Duration;

use cutroom_tests::{Db, Session, SourceServer, TestApp, both_dbs, email, media};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const JOB_LIMIT: Duration = Duration::from_secs(180);
const OPERATOR: &str = "operator-token-of-the-usage-tests-0123456789";

async fn submit(app: &TestApp, token: &str, url: &str) -> (StatusCode, Value) {
    app.post(
        "/v1/jobs",
        token,
        json!({"source": {"type": "youtube", "url": url}}),
    )
    .await
}

async fn set_quota(app: &TestApp, tenant: &str, minutes: Value) -> Value {
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{tenant}/quota"),
            Some(OPERATOR),
            Some(json!({ "media_minutes": minutes })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn stage<'a>(usage: &'a Value, name: &str) -> &'a Value {
    usage["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no {name} in {usage}"))
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() <= 0.011
}

/// Metering and quotas over one tenant's month, beside a neighbour's.
async fn metering_and_quotas(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "Every minute of this talk is counted once, by stage and by model.",
    );
    // Longer than the one-minute quota below: it must fail at probe.
    media::video_with_gaps(&source.path("long.mp4"), 75.0, &[]);
    let app = TestApp::builder(db)
        .allow_source(&source)
        .configure(|c| c.operator_token = Some(OPERATOR.to_owned().into()))
        .start()
        .await;
    let a = app.signup(&email("usage-a"), "Metered").await;
    let b = app.signup(&email("usage-b"), "Neighbour").await;
    let (id, source_minutes) = submit_and_wait(&app, &a, &source).await;
    check_metered(&app, &a, &id, source_minutes).await;
    check_other_tenant_and_months(&app, &a, &b).await;
    check_quota_fails_at_probe(&app, &a, &source, source_minutes).await;
    let theirs = check_used_up(&app, &a, &b, &source).await;
    let again = check_operator_list_and_clear(&app, &a, &source, source_minutes).await;
    check_quota_authority(&app, &a).await;
    wait_for_the_rest(&app, &a, &b, &again, &theirs).await;
}

/// Nothing is metered yet and no quota is set, then a spoken job succeeds;
/// returns its id and its source's minutes.
async fn submit_and_wait(app: &TestApp, a: &Session, source: &SourceServer) -> (String, f64) {
    // Nothing yet, and no quota by default.
    let (status, empty) = app.get("/v1/usage", &a.access_token).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["media_minutes"], 0.0, "{empty}");
    assert_eq!(empty["jobs"], 0, "{empty}");
    assert!(empty["quota"].is_null(), "{empty}");
    assert_eq!(empty["stages"], json!([]), "{empty}");

    let (status, job) = submit(app, &a.access_token, &source.url("talk.mp4")).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&a.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let duration = job["media"]["duration"].as_f64().unwrap();
    let source_minutes = duration / 60.0;
    (id, source_minutes)
}

/// Each costly stage is metered once with its model, clips by their own
/// minutes; fetch and publish are not metered.
async fn check_metered(app: &TestApp, a: &Session, id: &str, source_minutes: f64) {
    let (_, usage) = app.get("/v1/usage", &a.access_token).await;
    assert_eq!(usage["jobs"], 1, "{usage}");
    assert!(close(&usage["media_minutes"], source_minutes), "{usage}");
    for name in [
        "probe",
        "audio",
        "loudness",
        "silence",
        "transcribe",
        "speakers",
        "analyze",
        "moderate",
    ] {
        let s = stage(&usage, name);
        assert_eq!(s["jobs"], 1, "{name}: {usage}");
        assert!(close(&s["minutes"], source_minutes), "{name}: {usage}");
    }
    assert_eq!(stage(&usage, "transcribe")["model"], "whisper:tiny.en");
    assert_eq!(stage(&usage, "silence")["model"], "silero_vad.onnx");
    assert_eq!(stage(&usage, "analyze")["model"], "builtin");
    assert!(stage(&usage, "probe")["model"].is_null());
    assert!(stage(&usage, "moderate")["model"].is_string(), "{usage}");
    // The clips' own minutes, not the source's.
    let (_, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &a.access_token)
        .await;
    let clip_seconds: f64 = clips["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duration"].as_f64().unwrap())
        .sum();
    assert!(
        close(&stage(&usage, "clips")["minutes"], clip_seconds / 60.0),
        "{usage} {clips}"
    );
    // Fetch and publish move bytes; they are not metered.
    assert!(
        usage["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["stage"] != "fetch" && s["stage"] != "publish"),
        "{usage}"
    );
}

/// The other tenant sees none of it; another month is empty; a bad month
/// is refused.
async fn check_other_tenant_and_months(app: &TestApp, a: &Session, b: &Session) {
    let (_, theirs) = app.get("/v1/usage", &b.access_token).await;
    assert_eq!(theirs["jobs"], 0, "{theirs}");
    let (status, old) = app.get("/v1/usage?month=2020-01", &a.access_token).await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["jobs"], 0, "{old}");
    assert_eq!(old["from"], "2020-01-01T00:00:00Z", "{old}");
    let (status, bad) = app.get("/v1/usage?month=2026-13", &a.access_token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

/// A one-minute quota: the spoken job fits, a 75-second source does not fit
/// in what is left. It fails at probe and is not counted.
async fn check_quota_fails_at_probe(
    app: &TestApp,
    a: &Session,
    source: &SourceServer,
    source_minutes: f64,
) {
    let quota = set_quota(app, &a.tenant_id, json!(1)).await;
    assert_eq!(quota["quota_media_minutes"], 1, "{quota}");
    let (_, usage) = app.get("/v1/usage", &a.access_token).await;
    assert_eq!(usage["quota"]["media_minutes"], 1, "{usage}");
    assert!(
        close(&usage["quota"]["remaining_minutes"], 1.0 - source_minutes),
        "{usage}"
    );
    let (status, long) = submit(app, &a.access_token, &source.url("long.mp4")).await;
    assert_eq!(status, StatusCode::CREATED, "{long}");
    let long_id = long["id"].as_str().unwrap().to_owned();
    let long = app.wait_for_job(&a.access_token, &long_id, JOB_LIMIT).await;
    assert_eq!(long["status"], "failed", "{long}");
    assert_eq!(long["error"]["code"], "quota_exceeded", "{long}");
    assert_eq!(long["stage"], "probe", "{long}");
    let message = long["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("1.25 media minutes") && message.contains("resets on"),
        "{message}"
    );
    let (_, after) = app.get("/v1/usage", &a.access_token).await;
    assert_eq!(after["jobs"], 1, "{after}");
    assert!(
        stage(&after, "transcribe")["jobs"] == 1,
        "the failed job ran no further than probe: {after}"
    );
}

/// Used up: new work and uploads are refused before they start, until the
/// month ends; the neighbour is not limited. Returns the neighbour's job.
async fn check_used_up(app: &TestApp, a: &Session, b: &Session, source: &SourceServer) -> Value {
    set_quota(app, &a.tenant_id, json!(0)).await;
    let res = app
        .client
        .post(format!("{}/v1/jobs", app.base))
        .bearer_auth(&a.access_token)
        .json(&json!({"source": {"type": "youtube", "url": source.url("talk.mp4")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31 * 86_400).contains(&retry_after), "{retry_after}");
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["code"], "quota_exceeded", "{refused}");
    let (status, upload) = app
        .post(
            "/v1/uploads",
            &a.access_token,
            json!({"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{upload}");
    assert_eq!(upload["code"], "quota_exceeded", "{upload}");
    // The neighbour is not limited by it.
    let (status, theirs) = submit(app, &b.access_token, &source.url("talk.mp4")).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    theirs
}

/// The operator's list shows the quota, and clearing it lifts the limit;
/// returns the job submitted after.
async fn check_operator_list_and_clear(
    app: &TestApp,
    a: &Session,
    source: &SourceServer,
    source_minutes: f64,
) -> Value {
    let (status, list) = app
        .request(Method::GET, "/v1/admin/usage", Some(OPERATOR), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mine = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant_id"] == a.tenant_id.as_str())
        .unwrap();
    assert_eq!(mine["quota_media_minutes"], 0, "{list}");
    assert_eq!(mine["own_quota"], true, "{list}");
    assert!(close(&mine["media_minutes"], source_minutes), "{list}");
    // The operator sees the same month's cost as the tenant does, and
    // there is one: the job's stages ran on a worker with a price.
    let (_, own) = app.get("/v1/usage", &a.access_token).await;
    let cost = mine["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0, "{list}");
    assert!(
        (cost - own["cost_usd"].as_f64().unwrap()).abs() < 1e-9,
        "{list} {own}"
    );
    let cleared = set_quota(app, &a.tenant_id, Value::Null).await;
    assert!(cleared["quota_media_minutes"].is_null(), "{cleared}");
    let (status, again) = submit(app, &a.access_token, &source.url("talk.mp4")).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    again
}

/// Only the operator sets quotas, and only for tenants that exist.
async fn check_quota_authority(app: &TestApp, a: &Session) {
    let (status, _) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/quota", a.tenant_id),
            Some(&a.access_token),
            Some(json!({"media_minutes": 100000})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/quota", uuid::Uuid::now_v7()),
            Some(OPERATOR),
            Some(json!({"media_minutes": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .request(
            Method::PUT,
            &format!("/v1/admin/tenants/{}/quota", a.tenant_id),
            Some(OPERATOR),
            Some(json!({"media_minutes": -1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The jobs submitted after the limit was lifted, or by the neighbour,
/// succeed, and no scratch is left.
async fn wait_for_the_rest(app: &TestApp, a: &Session, b: &Session, again: &Value, theirs: &Value) {
    for id in [
        again["id"].as_str().unwrap(),
        theirs["id"].as_str().unwrap(),
    ] {
        let token = if id == again["id"] { &a } else { &b };
        let job = app.wait_for_job(&token.access_token, id, JOB_LIMIT).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    assert!(app.scratch_entries().is_empty());
}
both_dbs!(
    stages_are_metered_once_and_quotas_hold,
    super::metering_and_quotas
);

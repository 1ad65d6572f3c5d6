//! The cross-tenant rule: another tenant's resource answers 404, exactly
//! like one that does not exist, on every tenant endpoint (the matrix is
//! generated from the OpenAPI document), and roles within a tenant.

use std::collections::BTreeMap;

use cutroom_entities::{moderation_flag, speaker_sample};
use cutroom_tests::{Db, Session, TestApp, both_dbs, email};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every operation of the OpenAPI document that a tenant's bearer token
/// reaches and that names a resource in its path: `(method, template)`.
async fn tenant_operations(app: &TestApp) -> Vec<(Method, String, bool)> {
    let (status, spec) = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let tenant_scoped = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if !tenant_scoped {
                continue;
            }
            let method: Method = method.to_uppercase().parse().unwrap();
            ops.push((method, path.clone(), op.get("requestBody").is_some()));
        }
    }
    ops
}

/// Fills a path template's parameters from `ids` (keyed by the template's
/// first segment after `/v1/` and the parameter's name).
fn fill(template: &str, ids: &BTreeMap<(&str, &str), String>) -> String {
    let collection = template
        .trim_start_matches("/v1/")
        .split('/')
        .next()
        .unwrap();
    let mut path = template.to_owned();
    while let Some(open) = path.find('{') {
        let close = path[open..].find('}').unwrap() + open;
        let name = path[open + 1..close].to_owned();
        let value = ids.get(&(collection, name.as_str())).unwrap_or_else(|| {
            panic!(
                "{template}: no resource of the first tenant for `{name}`; \
                 add one to the cross-tenant matrix in tests/e2e/tenancy.rs"
            )
        });
        path.replace_range(open..=close, value);
    }
    path
}

/// The cross-tenant matrix, generated from the OpenAPI document so a new
/// endpoint is covered as soon as it exists: every tenant-scoped operation
/// on another tenant's resource answers 404 `not_found`, exactly like one
/// on a resource that does not exist, and changes nothing.
async fn other_tenants_see_nothing(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let a = app.signup(&email("alice"), "Alice Co").await;
    // Bob is his tenant's owner: no role check can answer first.
    let b = app.signup(&email("bob"), "Bob Co").await;
    let r = create_resources(&app, &a).await;
    check_matrix(&app, &b, &r.ids).await;
    check_body_reference_and_listings(&app, &b, &r.upload_id).await;
    check_untouched(&app, &a, &r).await;
}

/// Alice's resources, for Bob to try.
struct Resources {
    job_id: String,
    upload_id: String,
    hook_id: String,
    flag_id: Uuid,
    speaker_id: String,
    sample_id: Uuid,
    /// Every id a path template may name, keyed as [`fill`] wants them.
    ids: BTreeMap<(&'static str, &'static str), String>,
}

/// One of each of Alice's resources is created (the webhook first, so the
/// job's creation leaves a delivery in its log).
async fn create_resources(app: &TestApp, a: &Session) -> Resources {
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &a.access_token,
            json!({"url": "https://hooks.example.com/cutroom", "events": ["job.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let (status, job) = app.post("/v1/jobs", &a.access_token, json!({"source": {"type": "youtube", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();
    let (status, deliveries) = app
        .get(
            &format!("/v1/webhooks/{hook_id}/deliveries"),
            &a.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deliveries}");
    let delivery_id = deliveries["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a delivery of job.created: {deliveries}"))
        .to_owned();
    let (status, upload) = app
        .post(
            "/v1/uploads",
            &a.access_token,
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1234}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let upload_id = upload["upload_id"].as_str().unwrap().to_owned();
    let (status, key) = app
        .post("/v1/api-keys", &a.access_token, json!({"name": "a-key"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let key_id = key["id"].as_str().unwrap().to_owned();
    let (status, invited) = app
        .post(
            "/v1/members",
            &a.access_token,
            json!({"email": email("carol"), "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let invitation_id = invited["invitation"]["id"].as_str().unwrap().to_owned();
    // A review item: flags are only ever written by the pipeline.
    let flag_id = Uuid::now_v7();
    moderation_flag::Model {
        id: flag_id,
        tenant_id: a.tenant_id.parse().unwrap(),
        job_id: job_id.parse().unwrap(),
        kind: cutroom_entities::FlagKind::Segment,
        segment: 0,
        start: 0.0,
        end: 1.0,
        text: "flagged words".into(),
        speaker: None,
        scores: json!([]),
        fired: json!([]),
        categories: ",insult,".into(),
        action: "flag".into(),
        max_score: 0.9,
        status: cutroom_entities::FlagStatus::Open,
        created_at: chrono::Utc::now(),
        decided_at: None,
    }
    .into_active_model()
    .insert(&app.app.db.orm)
    .await
    .unwrap();
    // A speaker with a sample: samples come from jobs' voiceprints, which
    // only the pipeline writes.
    let (status, speaker) = app
        .post(
            "/v1/speakers",
            &a.access_token,
            json!({"name": "Alice's voice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{speaker}");
    let speaker_id = speaker["id"].as_str().unwrap().to_owned();
    let sample_id = Uuid::now_v7();
    speaker_sample::Model {
        id: sample_id,
        tenant_id: a.tenant_id.parse().unwrap(),
        speaker_id: speaker_id.parse().unwrap(),
        model: "campplus".into(),
        seconds: 10.0,
        embedding: cutroom_core::voiceprints::to_bytes(&[1.0; 192]),
        source: "job_speaker".into(),
        job_id: Some(job_id.parse().unwrap()),
        label: Some("S1".into()),
        ranges: None,
        created_at: chrono::Utc::now(),
    }
    .into_active_model()
    .insert(&app.app.db.orm)
    .await
    .unwrap();

    // A batch waiting for its archive.
    let (status, batch) = app
        .post(
            "/v1/batches",
            &a.access_token,
            json!({"name": "alice.tar.gz", "size_bytes": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch"]["id"].as_str().unwrap().to_owned();

    let ids: BTreeMap<(&'static str, &'static str), String> = [
        (("jobs", "id"), job_id.clone()),
        (("jobs", "segment"), "0".to_owned()),
        (("uploads", "id"), upload_id.clone()),
        (("api-keys", "id"), key_id.clone()),
        (("members", "user_id"), a.user_id.clone()),
        (("invitations", "id"), invitation_id.clone()),
        // Someone else's invitation, answered by Bob: not his to answer.
        (("me", "id"), invitation_id.clone()),
        (("review", "id"), flag_id.to_string()),
        (("webhooks", "id"), hook_id.clone()),
        (("webhooks", "delivery_id"), delivery_id.clone()),
        (("speakers", "id"), speaker_id.clone()),
        (("speakers", "sample_id"), sample_id.to_string()),
        (("batches", "id"), batch_id),
    ]
    .into();
    Resources {
        job_id,
        upload_id,
        hook_id,
        flag_id,
        speaker_id,
        sample_id,
        ids,
    }
}

/// Every tenant-scoped operation on Alice's resources answers Bob 404
/// `not_found`, exactly like one on a resource that does not exist.
async fn check_matrix(app: &TestApp, b: &Session, ids: &BTreeMap<(&str, &str), String>) {
    let missing = Uuid::now_v7().to_string();
    let mut missing_ids = ids.clone();
    for (k, v) in missing_ids.iter_mut() {
        if k.1 != "segment" {
            *v = missing.clone();
        }
    }
    // A valid body for each operation that takes one, so validation
    // cannot answer before the tenant check.
    let bodies: BTreeMap<(Method, &str), Value> = [
        (
            (Method::POST, "/v1/jobs/{id}/clips"),
            json!({"ranges": [{"start": 0.0, "end": 5.0}]}),
        ),
        (
            (Method::PATCH, "/v1/jobs/{id}/transcript/segments/{segment}"),
            json!({"text": "Someone else's words."}),
        ),
        (
            (Method::PATCH, "/v1/members/{user_id}"),
            json!({"role": "viewer"}),
        ),
        (
            (Method::POST, "/v1/review/{id}"),
            json!({"decision": "approve"}),
        ),
        ((Method::POST, "/v1/uploads/{id}/complete"), json!({})),
        ((Method::POST, "/v1/batches/{id}/start"), json!({})),
        (
            (Method::PATCH, "/v1/webhooks/{id}"),
            json!({"description": "taken over"}),
        ),
        (
            (Method::PATCH, "/v1/speakers/{id}"),
            json!({"name": "taken over"}),
        ),
        (
            (Method::POST, "/v1/speakers/{id}/merge"),
            json!({"from": Uuid::now_v7()}),
        ),
        (
            (Method::POST, "/v1/speakers/{id}/samples"),
            json!({"job_id": Uuid::now_v7(), "speaker": "S1"}),
        ),
    ]
    .into();

    let ops = tenant_operations(app).await;
    assert!(ops.len() >= 20, "{ops:?}");
    for (method, template, takes_body) in &ops {
        let body = takes_body.then(|| {
            bodies
                .get(&(method.clone(), template.as_str()))
                .unwrap_or_else(|| {
                    panic!("{method} {template}: add a valid body to the cross-tenant matrix")
                })
                .clone()
        });
        let path = fill(template, ids);
        let (status, err) = app
            .request(method.clone(), &path, Some(&b.access_token), body.clone())
            .await;
        assert_eq!(
            (status, &err["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{method} {path} as another tenant: {err}"
        );
        // ...exactly like a resource that does not exist at all.
        let missing_path = fill(template, &missing_ids);
        let (status2, err2) = app
            .request(method.clone(), &missing_path, Some(&b.access_token), body)
            .await;
        assert_eq!(
            (status2, &err2["code"]),
            (status, &err["code"]),
            "{method} {missing_path}"
        );
    }
}

/// Alice's upload cannot be named in Bob's job, and Bob's listings show
/// only his own.
async fn check_body_reference_and_listings(app: &TestApp, b: &Session, upload_id: &str) {
    let (status, err) = app
        .post(
            "/v1/jobs",
            &b.access_token,
            json!({"source": {"type": "upload", "upload_id": upload_id}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");

    let (status, list) = app.get("/v1/jobs", &b.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"],
        json!([]),
        "listing shows only one's own jobs"
    );
    for listing in [
        "/v1/api-keys",
        "/v1/webhooks",
        "/v1/review",
        "/v1/invitations",
    ] {
        let (status, items) = app.get(listing, &b.access_token).await;
        assert_eq!(status, StatusCode::OK, "{listing}: {items}");
        assert_eq!(items["items"], json!([]), "{listing}");
    }
    let (status, members) = app.get("/v1/members", &b.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
}

/// Alice's things are untouched by Bob's attempts.
async fn check_untouched(app: &TestApp, a: &Session, r: &Resources) {
    let Resources {
        job_id,
        hook_id,
        flag_id,
        speaker_id,
        sample_id,
        ..
    } = r;
    let (status, speaker) = app
        .get(&format!("/v1/speakers/{speaker_id}"), &a.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{speaker}");
    assert_eq!(speaker["name"], "Alice's voice", "{speaker}");
    let (_, samples) = app
        .get(
            &format!("/v1/speakers/{speaker_id}/samples"),
            &a.access_token,
        )
        .await;
    assert_eq!(
        samples["items"][0]["id"],
        sample_id.to_string(),
        "{samples}"
    );
    let (status, job) = app
        .get(&format!("/v1/jobs/{job_id}"), &a.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "queued");
    let (status, list) = app.get("/v1/api-keys", &a.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["items"][0]["revoked_at"].is_null());
    let (status, hook) = app
        .get(&format!("/v1/webhooks/{hook_id}"), &a.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hook["description"], "", "{hook}");
    let (status, flag) = app
        .get(&format!("/v1/review/{flag_id}"), &a.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{flag}");
    assert_eq!(flag["status"], "open", "{flag}");
    let (status, members) = app.get("/v1/members", &a.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"][0]["role"], "owner", "{members}");
    let (status, list) = app.get("/v1/invitations", &a.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["status"], "pending", "{list}");
}
both_dbs!(
    cross_tenant_requests_answer_404,
    super::other_tenants_see_nothing
);

async fn invite_and_manage_members(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Team").await;
    let newcomer = email("newcomer");

    let (status, invite) = app
        .post(
            "/v1/members",
            &owner.access_token,
            json!({"email": newcomer, "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let token = invite["invitation"]["token"]
        .as_str()
        .expect("invite token shown once")
        .to_owned();
    let (status, joined) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": token, "name": "New Person", "password": "a good password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["tenant_id"], owner.tenant_id.as_str());
    let member_id = joined["user_id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": token, "name": "Again", "password": "a good password"})),
        )
        .await;
    assert!(status.is_client_error(), "an invitation works once");

    let (status, _) = app
        .post(
            "/v1/jobs",
            joined["access_token"].as_str().unwrap(),
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "members create jobs");

    let (status, changed) = app
        .request(
            Method::PATCH,
            &format!("/v1/members/{member_id}"),
            Some(&owner.access_token),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, relogin) = app.login(&newcomer, "a good password").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/v1/jobs",
            relogin["access_token"].as_str().unwrap(),
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "now a viewer");

    let (status, err) = app
        .request(
            Method::DELETE,
            &format!("/v1/members/{}", owner.user_id),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "the last owner stays: {err}");
}
both_dbs!(invite_and_manage_members, super::invite_and_manage_members);

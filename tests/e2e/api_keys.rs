use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::StatusCode;
use serde_json::json;

async fn create_use_revoke(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Keys Inc").await;

    let (status, created) = app
        .post("/v1/api-keys", &owner.access_token, json!({"name": "ci"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"]
        .as_str()
        .expect("the key is shown once")
        .to_owned();
    assert!(key.starts_with("crk_"), "recognisable prefix: {key}");
    let key_id = created["id"].as_str().unwrap().to_owned();

    let (status, jobs) = app.get("/v1/jobs", &key).await;
    assert_eq!(status, StatusCode::OK, "the key authenticates: {jobs}");

    let (status, list) = app.get("/v1/api-keys", &owner.access_token).await;
    assert_eq!(status, StatusCode::OK);
    let listed = list["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        !list.to_string().contains(&key),
        "the secret is never shown again"
    );
    assert!(
        listed[0]["last_used_at"].is_string(),
        "use is recorded: {list}"
    );
    assert!(key.starts_with(listed[0]["prefix"].as_str().unwrap()));

    let (status, _) = app
        .delete(&format!("/v1/api-keys/{key_id}"), &owner.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = app.get("/v1/jobs", &key).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused: {err}"
    );
}
both_dbs!(api_keys_create_use_revoke, super::create_use_revoke);

async fn roles_are_enforced(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Roles Inc").await;

    let (status, viewer) = app
        .post(
            "/v1/api-keys",
            &owner.access_token,
            json!({"name": "dashboard", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{viewer}");
    let viewer = viewer["key"].as_str().unwrap();

    let (status, _) = app.get("/v1/jobs", viewer).await;
    assert_eq!(status, StatusCode::OK, "viewers read");
    let job = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}});
    let (status, err) = app.post("/v1/jobs", viewer, job.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "viewers cannot create jobs: {err}"
    );
    assert_eq!(err["code"], "forbidden");
    let (status, _) = app
        .post(
            "/v1/uploads",
            viewer,
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/v1/api-keys",
            viewer,
            json!({"name": "escalate", "role": "owner"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "keys do not mint keys above their role"
    );

    let (status, member) = app
        .post("/v1/api-keys", &owner.access_token, json!({"name": "bot"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let member = member["key"].as_str().unwrap();
    let (status, created) = app.post("/v1/jobs", member, job).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "members create jobs: {created}"
    );
    let (status, _) = app
        .post("/v1/api-keys", member, json!({"name": "nope"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins manage keys");
}
both_dbs!(roles_are_enforced_for_keys, super::roles_are_enforced);

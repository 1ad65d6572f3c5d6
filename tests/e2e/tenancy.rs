//! The cross-tenant rule: another tenant's resource answers 404, exactly
//! like one that does not exist, on every tenant endpoint.

use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn other_tenants_see_nothing(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let a = app.signup(&email("alice"), "Alice Co").await;
    let b = app.signup(&email("bob"), "Bob Co").await;

    let (status, job) = app.post("/v1/jobs", &a.access_token, json!({"source": {"type": "youtube", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_id = job["id"].as_str().unwrap();
    let (status, upload) = app
        .post(
            "/v1/uploads",
            &a.access_token,
            json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1234}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let upload_id = upload["upload_id"].as_str().unwrap();
    let (status, key) = app
        .post("/v1/api-keys", &a.access_token, json!({"name": "a-key"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let key_id = key["id"].as_str().unwrap();
    let missing = uuid::Uuid::now_v7().to_string();

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/jobs/{job_id}"), None),
        (Method::GET, format!("/v1/jobs/{job_id}/events"), None),
        (Method::POST, format!("/v1/jobs/{job_id}/cancel"), None),
        (Method::DELETE, format!("/v1/jobs/{job_id}"), None),
        (
            Method::POST,
            format!("/v1/uploads/{upload_id}/complete"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            Some(json!({"source": {"type": "upload", "upload_id": upload_id}})),
        ),
        (Method::DELETE, format!("/v1/api-keys/{key_id}"), None),
        (
            Method::PATCH,
            format!("/v1/members/{}", a.user_id),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, format!("/v1/members/{}", a.user_id), None),
    ];
    for (method, path, body) in cases {
        let (status, err) = app
            .request(method.clone(), &path, Some(&b.access_token), body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} as another tenant: {err}"
        );
        assert_eq!(err["code"], "not_found", "{method} {path}");
        // ...exactly like a resource that does not exist at all.
        let missing_path = path
            .replace(job_id, &missing)
            .replace(upload_id, &missing)
            .replace(key_id, &missing)
            .replace(&a.user_id, &missing);
        let body = body
            .map(|b| serde_json::from_str(&b.to_string().replace(upload_id, &missing)).unwrap());
        let (status2, err2) = app
            .request(method.clone(), &missing_path, Some(&b.access_token), body)
            .await;
        assert_eq!(
            (status2, &err2["code"]),
            (status, &err["code"]),
            "{method} {missing_path}"
        );
    }

    let (status, list) = app.get("/v1/jobs", &b.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"],
        json!([]),
        "listing shows only one's own jobs"
    );
    let (status, keys) = app.get("/v1/api-keys", &b.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["items"], json!([]));
    let (status, members) = app.get("/v1/members", &b.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");

    // Alice's things are untouched by Bob's attempts.
    let (status, job) = app
        .get(&format!("/v1/jobs/{job_id}"), &a.access_token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["status"], "queued");
    let (status, list) = app.get("/v1/api-keys", &a.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["items"][0]["revoked_at"].is_null());
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

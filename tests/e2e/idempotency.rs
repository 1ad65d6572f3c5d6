//! `Idempotency-Key`: a retried POST gets the first response again and
//! creates nothing twice, even when the retries race; the same key with
//! another body is refused; keys are per tenant.

use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Option<String>, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, res.json().await.unwrap())
}

async fn retries_create_nothing_twice(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let a = app.signup(&email("idem"), "Idem Co").await;
    let job = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}});

    let (status, replayed, first) = post(&app, &a.access_token, "/v1/jobs", "order-1", &job).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(replayed.as_deref(), Some("false"));
    let (status, replayed, again) = post(&app, &a.access_token, "/v1/jobs", "order-1", &job).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first, "the first response, again");
    let (_, jobs) = app.get("/v1/jobs", &a.access_token).await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");

    // Same key, another request.
    let other = json!({"source": {"type": "youtube", "url": "https://youtu.be/aaaaaaaaaaa"}});
    let (status, _, err) = post(&app, &a.access_token, "/v1/jobs", "order-1", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "idempotency_key_reused");

    // A refused request is answered the same way again.
    let bad = json!({"source": {"type": "youtube", "url": "https://example.com/x"}});
    let (status, _, err) = post(&app, &a.access_token, "/v1/jobs", "order-2", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (status, replayed, again) = post(&app, &a.access_token, "/v1/jobs", "order-2", &bad).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("true"))
    );
    assert_eq!(again["code"], err["code"]);

    // Uploads too.
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000});
    let (status, _, u1) = post(&app, &a.access_token, "/v1/uploads", "up-1", &upload).await;
    assert_eq!(status, StatusCode::CREATED, "{u1}");
    let (status, replayed, u2) = post(&app, &a.access_token, "/v1/uploads", "up-1", &upload).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::CREATED, Some("true"))
    );
    assert_eq!(u1["upload_id"], u2["upload_id"]);

    // Keys are per tenant: another tenant's "order-1" is its own.
    let b = app.signup(&email("idem-b"), "Other Co").await;
    let (status, replayed, theirs) = post(&app, &b.access_token, "/v1/jobs", "order-1", &job).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (StatusCode::CREATED, Some("false"))
    );
    assert_ne!(theirs["id"], first["id"]);

    let (status, _, err) = post(&app, &a.access_token, "/v1/jobs", &"k".repeat(256), &job).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_idempotency_key");

    // Racing retries: one job, and every answer is that job or "in progress".
    let racers = (0..12).map(|_| post(&app, &a.access_token, "/v1/jobs", "race", &other));
    let answers = futures::future::join_all(racers).await;
    let mut ids = std::collections::BTreeSet::new();
    for (status, _, body) in &answers {
        match *status {
            StatusCode::CREATED => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => assert_eq!(body["code"], "idempotency_in_progress"),
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "{answers:?}");
    let (_, jobs) = app.get("/v1/jobs", &a.access_token).await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 2, "{jobs}");
}
both_dbs!(
    idempotency_keys_make_retries_safe,
    super::retries_create_nothing_twice
);

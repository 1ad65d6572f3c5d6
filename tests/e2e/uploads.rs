//! Presigned uploads: limits, size checks and expiry, against local
//! storage and a real S3-compatible server.

use std::time::Duration;

use cutroom_tests::{Db, Store, TestApp, email};
use reqwest::StatusCode;
use serde_json::json;

async fn limits_and_size_mismatch(store: Store) {
    let app = TestApp::builder(Db::Sqlite)
        .store(store)
        .without_worker()
        .configure(|c| c.max_upload_bytes = 1_000_000)
        .start()
        .await;
    let s = app.signup(&email("up"), "Uploads").await;

    let (status, err) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 2_000_000}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["code"], "upload_too_large");
    let (status, err) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "notes.txt", "content_type": "text/plain", "size_bytes": 10}),
        )
        .await;
    assert!(
        status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status} {err}"
    );
    assert_eq!(err["code"], "unsupported_content_type");

    // Declared 1000 bytes; a body of another size is refused by the signed URL itself...
    let (status, up) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let id = up["upload_id"].as_str().unwrap();
    let put = app.put_presigned(&up, vec![0u8; 999]).await;
    assert!(
        put.is_client_error(),
        "a body of the wrong size is refused, got {put}"
    );
    let (status, err) = app
        .post(
            &format!("/v1/uploads/{id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing was stored: {err}");
    assert_eq!(err["code"], "upload_missing");

    // ...and if a different object lands at the key anyway, completing says so.
    let key = app.stored_keys("tenants/").await;
    assert!(key.is_empty(), "{key:?}");
    let tmp = app.dir.path().join("wrong-size.bin");
    std::fs::write(&tmp, vec![1u8; 10]).unwrap();
    let object_key = cutroom_core::storage::upload_key(
        s.tenant_id.parse().unwrap(),
        id.parse().unwrap(),
        "clip.mp4",
    );
    app.app
        .store
        .put_file(&object_key, &tmp, "video/mp4")
        .await
        .unwrap();
    let (status, err) = app
        .post(
            &format!("/v1/uploads/{id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "upload_size_mismatch");

    // The right bytes complete it, once.
    assert!(app.put_presigned(&up, vec![7u8; 1000]).await.is_success());
    let (status, job) = app
        .post(
            &format!("/v1/uploads/{id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "queued");
    let (status, err) = app
        .post(
            &format!("/v1/uploads/{id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limits_and_size_mismatch_local() {
    limits_and_size_mismatch(Store::Local).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limits_and_size_mismatch_s3() {
    limits_and_size_mismatch(Store::S3).await
}

async fn expiry(store: Store, db: Db) {
    let app = TestApp::builder(db)
        .store(store)
        .without_worker()
        .configure(|c| {
            c.upload_url_ttl = Duration::from_secs(1);
            c.upload_grace = Duration::ZERO;
            c.sweep_interval = Duration::from_millis(200);
        })
        .start()
        .await;
    let s = app.signup(&email("late"), "Late").await;
    let (status, up) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "late.mp4", "content_type": "video/mp4", "size_bytes": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A batch whose archive never comes.
    let (status, batch) = app
        .post(
            "/v1/batches",
            &s.access_token,
            json!({"name": "never.tar.gz", "size_bytes": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch"]["id"].as_str().unwrap().to_owned();
    let (status, early) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "early.mp4", "content_type": "video/mp4", "size_bytes": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        app.put_presigned(&early, vec![3u8; 100]).await.is_success(),
        "in time, the URL works"
    );

    // Waiting out a 1-second URL lifetime is the behaviour under test, not a readiness wait.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let put = app.put_presigned(&up, vec![3u8; 100]).await;
    assert_eq!(put, StatusCode::FORBIDDEN, "an expired URL is refused");
    let (status, err) = app
        .post(
            &format!("/v1/uploads/{}/complete", up["upload_id"].as_str().unwrap()),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{err}");
    assert_eq!(err["code"], "upload_expired");

    // The sweeper removes the abandoned object that did arrive.
    let prefix = cutroom_core::storage::uploads_prefix(s.tenant_id.parse().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.stored_keys(&prefix).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "abandoned upload was not swept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and the batch it was for ends, saying why.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = app
            .get(&format!("/v1/batches/{batch_id}"), &s.access_token)
            .await;
        if b["status"] == "failed" {
            assert_eq!(b["error"]["code"], "upload_missing", "{b}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never failed: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, err) = app
        .post(
            &format!(
                "/v1/uploads/{}/complete",
                early["upload_id"].as_str().unwrap()
            ),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_are_refused_and_swept_local_sqlite() {
    expiry(Store::Local, Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_uploads_are_refused_and_swept_s3_postgres() {
    expiry(Store::S3, Db::Postgres).await
}

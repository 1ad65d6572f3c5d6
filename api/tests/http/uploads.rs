//! Uploads through local storage: put and completed, expired when
//! abandoned, and kept under the tenant's own prefix.

use super::*;

#[tokio::test]
async fn upload_through_local_storage_then_complete() {
    let t = TestApp::new().await;
    let token = t.signup("up@example.org").await;
    let bytes = b"not really a video, but the right size".to_vec();
    let create =
        json!({"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": bytes.len()});
    let up = t
        .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let id = up.body["upload_id"].as_str().unwrap().to_owned();
    let url = up.body["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&t.app.config.public_url)
        .unwrap()
        .to_owned();

    let early = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&early, StatusCode::CONFLICT, "upload_missing");

    let put = |body: Vec<u8>, ct: &str| {
        Request::put(path.as_str())
            .header(header::CONTENT_TYPE, ct)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap()
    };
    assert_problem(
        &t.send(put(bytes.clone(), "video/webm")).await,
        StatusCode::FORBIDDEN,
        "signature_mismatch",
    );
    assert_problem(
        &t.send(put(bytes[1..].to_vec(), "video/mp4")).await,
        StatusCode::FORBIDDEN,
        "signature_mismatch",
    );
    assert_eq!(
        t.send(put(bytes.clone(), "video/mp4")).await.status,
        StatusCode::OK
    );

    let done = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(done.body["status"], "queued");
    assert_eq!(
        done.body["source"],
        json!({"type": "upload", "upload_id": id})
    );
    let twice = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict");

    let too_big = json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": t.app.config.max_upload_bytes + 1});
    assert_problem(
        &t.call(Method::POST, "/v1/uploads", Some(&token), Some(too_big))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
    );
    let pdf = json!({"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10});
    assert_problem(
        &t.call(Method::POST, "/v1/uploads", Some(&token), Some(pdf))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_content_type",
    );
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let t = TestApp::new().await;
    let token = t.signup("late@example.org").await;
    let create = json!({"filename": "late.mp4", "content_type": "video/mp4", "size_bytes": 3});
    let id = t
        .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
        .await
        .body["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let now = chrono::Utc::now();
    assert_eq!(
        cutroom_core::housekeeping::sweep::expired_uploads(&t.housekeeper(), now)
            .await
            .unwrap(),
        0
    );
    let later = now
        + t.app.config.upload_url_ttl
        + t.app.config.upload_grace
        + chrono::Duration::seconds(1);
    assert_eq!(
        cutroom_core::housekeeping::sweep::expired_uploads(&t.housekeeper(), later)
            .await
            .unwrap(),
        1
    );
    let done = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&done, StatusCode::GONE, "upload_expired");
}

#[tokio::test]
async fn upload_names_never_leave_the_tenant_prefix() {
    let t = TestApp::new().await;
    let token = t.signup("names@example.org").await;
    let me = t.call(Method::GET, "/v1/me", Some(&token), None).await;
    let tenant = me.body["tenant"]["id"]
        .as_str()
        .or_else(|| me.body["tenant_id"].as_str())
        .unwrap_or_else(|| panic!("tenant id in {}", me.body))
        .to_owned();
    for name in [
        "../../../etc/passwd",
        "..\\..\\windows\\system.ini",
        "/abs/path/talk.mp4",
        "a/../../b.mp4",
        "%2e%2e%2f%2e%2e%2fx.mp4",
        "..",
        "talk.mp4\0.exe",
    ] {
        let create = json!({"filename": name, "content_type": "video/mp4", "size_bytes": 10});
        let up = t
            .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
            .await;
        if up.status == StatusCode::UNPROCESSABLE_ENTITY {
            continue;
        }
        assert_eq!(up.status, StatusCode::CREATED, "{name}: {}", up.body);
        let id = up.body["upload_id"].as_str().unwrap();
        let url = url::Url::parse(up.body["url"].as_str().unwrap()).unwrap();
        let key = url.path().strip_prefix("/storage/").unwrap();
        let prefix = format!("uploads/{tenant}/{id}/");
        assert!(key.starts_with(&prefix), "{name}: {key}");
        let last = &key[prefix.len()..];
        assert!(
            !last.is_empty() && !last.contains(['/', '\\']) && !last.starts_with('.'),
            "{name}: {key}"
        );
        assert!(!key.contains(".."), "{name}: {key}");
    }
}

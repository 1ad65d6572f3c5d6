//! Requests the API refuses answer as problem documents; health,
//! readiness and the OpenAPI document answer without signing in.

use super::*;

#[tokio::test]
async fn bad_requests_are_problems() {
    let t = TestApp::new().await;
    let malformed = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{nope"));
    assert_problem(
        &t.send(malformed.unwrap()).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );

    let not_json = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"));
    assert_problem(
        &t.send(not_json.unwrap()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let missing = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "a@b.c"})),
        )
        .await;
    assert_problem(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("password")
    );

    let short =
        json!({"email": "a@example.org", "password": "short", "name": "A", "tenant_name": "T"});
    assert_problem(
        &t.call(Method::POST, "/v1/auth/signup", None, Some(short))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let unauthenticated = t.call(Method::GET, "/v1/jobs", None, None).await;
    assert_problem(&unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(unauthenticated.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_problem(
        &t.call(Method::GET, "/v1/jobs", Some("garbage"), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    assert_problem(
        &t.call(Method::GET, "/v1/nothing-here", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let health = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert!(health.headers.contains_key("x-request-id"));
    let ready = t.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, ready.body.clone()),
        (
            StatusCode::OK,
            json!({"status": "ok", "database": "ok", "storage": "ok"})
        )
    );
    let spec = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.body["openapi"], "3.1.0");
}

use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn signup_login_refresh(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let who = email("owner");
    let s = app.signup(&who, "Acme").await;

    let (status, me) = app.get("/v1/me", &s.access_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], who.as_str());
    assert_eq!(me["role"], "owner");

    let (status, err) = app.login(&who, "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], "invalid_credentials");
    let (status, err) = app.login(&email("nobody"), "whatever1").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "unknown e-mail answers like a wrong password"
    );
    assert_eq!(err["code"], "invalid_credentials");

    let (status, login) = app.login(&who, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();

    // Rotation: the refresh token works once and yields a new pair.
    let (status, rotated) = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, refresh);
    let (status, me) = app
        .get("/v1/me", rotated["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");

    // Reuse of the old token is theft: it fails and takes the family with it.
    let (status, err) = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["code"], "invalid_refresh_token");
    let (status, _) = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": new_refresh})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the rotated token was revoked with its family"
    );
}
both_dbs!(
    signup_login_refresh_and_reuse_detection,
    super::signup_login_refresh
);

async fn bad_credentials_and_requests(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let who = email("dup");
    app.signup(&who, "One").await;

    let (status, err) = app
        .request(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(json!({"email": who.to_uppercase(), "password": "another password", "name": "X", "tenant_name": "Two"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "e-mail addresses are case-insensitive: {err}"
    );
    assert_eq!(err["code"], "email_taken");

    let res = app
        .client
        .get(format!("{}/v1/jobs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    for token in [
        "garbage",
        "crk_notakey_atall",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    ] {
        let (status, err) = app.get("/v1/jobs", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {err}");
        assert_eq!(err["code"], "unauthorized");
    }

    let res = app
        .client
        .post(format!("{}/v1/auth/login", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    let (status, err) = app
        .request(Method::POST, "/v1/auth/signup", None, Some(json!({"email": "x@example.test", "password": "short", "name": "X", "tenant_name": "T"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "validation_failed");
}
both_dbs!(
    bad_credentials_and_malformed_requests,
    super::bad_credentials_and_requests
);

//! Credentials other than a session: API keys until revoked, access
//! tokens that were forged, and each credential's own rate limit.

use super::*;

#[tokio::test]
async fn api_keys_authenticate_until_revoked() {
    let t = TestApp::new().await;
    let owner = t.signup("owner@example.org").await;
    let created = t
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&owner),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["role"], "member");
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created.body["prefix"].as_str().unwrap()));

    let me = t.call(Method::GET, "/v1/me", Some(&key), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["user"], Value::Null);
    assert_eq!(me.body["api_key"]["id"], id.as_str());
    // A member key cannot manage keys.
    let denied = t
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "forbidden");

    let listed = t
        .call(Method::GET, "/v1/api-keys", Some(&owner), None)
        .await;
    let item = &listed.body["items"][0];
    assert!(
        item.get("key").is_none() && item["last_used_at"].is_string(),
        "{item}"
    );

    let revoked = t
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_problem(
        &t.call(Method::GET, "/v1/me", Some(&key), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn forged_access_tokens_are_rejected() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    use cutroom_api::auth::jwt::JwtKeys;
    use cutroom_entities::Role;

    let t = TestApp::new().await;
    let owner = t.signup("owner@forge.example").await;
    let viewer = t.join(&owner, "viewer@forge.example", "viewer").await;
    let r = t.call(Method::GET, "/v1/me", Some(&viewer), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&viewer),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");

    let parts: Vec<&str> = viewer.split('.').collect();
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    let sub: uuid::Uuid = claims["sub"].as_str().unwrap().parse().unwrap();
    let tid: uuid::Uuid = claims["tid"].as_str().unwrap().parse().unwrap();
    let with_claims = |change: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        change(&mut c);
        B64.encode(c.to_string())
    };
    let header = |alg: &str| B64.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let promoted = with_claims(&|c| c["role"] = json!("owner"));
    let forever = with_claims(&|c| c["exp"] = json!(4_102_444_800i64));
    let elsewhere = with_claims(&|c| c["tid"] = json!(uuid::Uuid::now_v7()));
    let other_key = JwtKeys::from_secret(&SecretString::from("y".repeat(32)))
        .issue(
            sub,
            tid,
            Role::Owner,
            std::time::Duration::from_secs(600),
            chrono::Utc::now(),
        )
        .unwrap()
        .0;
    let expired = t
        .app
        .jwt
        .issue(
            sub,
            tid,
            Role::Viewer,
            std::time::Duration::from_secs(60),
            chrono::Utc::now() - chrono::Duration::seconds(120),
        )
        .unwrap()
        .0;
    let forged = [
        (
            "alg none, no signature",
            format!("{}.{}.", header("none"), parts[1]),
        ),
        (
            "alg none, promoted",
            format!("{}.{promoted}.", header("none")),
        ),
        (
            "alg none, original signature",
            format!("{}.{}.{}", header("none"), parts[1], parts[2]),
        ),
        (
            "HS512 header, HS256 signature",
            format!("{}.{}.{}", header("HS512"), parts[1], parts[2]),
        ),
        (
            "role promoted",
            format!("{}.{promoted}.{}", parts[0], parts[2]),
        ),
        (
            "expiry pushed out",
            format!("{}.{forever}.{}", parts[0], parts[2]),
        ),
        (
            "another tenant",
            format!("{}.{elsewhere}.{}", parts[0], parts[2]),
        ),
        ("signed with another key", other_key),
        ("expired", expired),
        ("truncated", viewer[..viewer.len() - 4].to_owned()),
        ("not a JWT", "crk_not-a-real-key".to_owned()),
    ];
    for (what, token) in forged {
        let r = t.call(Method::GET, "/v1/me", Some(&token), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
        assert_eq!(r.body["code"], "unauthorized", "{what}");
        let r = t
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&token),
                Some(json!({"name": "forged"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
    }
}

#[tokio::test]
async fn each_credential_has_its_own_rate_limit() {
    let t = TestApp::with_config(|c| c.rate_limit_per_minute = 5).await;
    let owner = t.signup("busy@example.org").await;
    let key = t
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&owner),
            Some(json!({"name": "script"})),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();
    // The owner has made one request; four more are allowed.
    for _ in 0..4 {
        let r = t.call(Method::GET, "/v1/jobs", Some(&owner), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = t.call(Method::GET, "/v1/jobs", Some(&owner), None).await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The API key is counted apart from the user who made it.
    let r = t.call(Method::GET, "/v1/jobs", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Unauthenticated requests are not counted against anyone.
    let r = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

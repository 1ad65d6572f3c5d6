//! Sessions: sign-up, login and refresh-token rotation, browser sessions
//! kept in a cookie, and refreshing into another of the user's tenants.

use super::*;

#[tokio::test]
async fn signup_login_me_and_refresh_rotation() {
    let t = TestApp::new().await;
    t.signup("ada@example.org").await;

    let again = json!({"email": "ADA@example.org", "password": "another one", "name": "B", "tenant_name": "C"});
    assert_problem(
        &t.call(Method::POST, "/v1/auth/signup", None, Some(again))
            .await,
        StatusCode::CONFLICT,
        "email_taken",
    );

    let wrong = json!({"email": "ada@example.org", "password": "wrong password"});
    assert_problem(
        &t.call(Method::POST, "/v1/auth/login", None, Some(wrong))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let nobody = json!({"email": "nobody@example.org", "password": "correct horse"});
    assert_problem(
        &t.call(Method::POST, "/v1/auth/login", None, Some(nobody))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let login = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.org", "password": "correct horse"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["role"], "owner");
    let access = login.body["access_token"].as_str().unwrap();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.starts_with("crr_"));

    let me = t.call(Method::GET, "/v1/me", Some(access), None).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["user"]["email"], "ada@example.org");
    assert_eq!(me.body["tenant"]["name"], "Analytical");
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["memberships"].as_array().unwrap().len(), 1);

    // Rotation: the new refresh token works, the old one is now a replay
    // and ends the whole family, including the token just issued.
    let rotated = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, refresh);
    let replay = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_problem(&replay, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    let after = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": second})),
        )
        .await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

/// A browser session keeps its refresh token in an HttpOnly, SameSite
/// cookie scoped to `/v1/auth`, never in a body its scripts could read;
/// the cookie works only with `X-Cutroom-Session: cookie`, which another
/// site's page cannot send; it rotates like a body token, and logout
/// removes it.
#[tokio::test]
async fn browser_sessions_keep_the_refresh_token_in_a_cookie() {
    let t = TestApp::new().await;
    t.signup("cookie@example.org").await;
    let send = |path: &'static str, headers: Vec<(&'static str, String)>, body: Option<Value>| {
        let mut req = Request::builder().method(Method::POST).uri(path);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        t.send(req.unwrap())
    };
    let browser = || vec![("x-cutroom-session", "cookie".to_owned())];
    let set_cookie = |r: &Reply| -> String {
        r.headers
            .get(header::SET_COOKIE)
            .expect("a Set-Cookie header")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let value = |set: &str| -> String {
        set.split(';')
            .next()
            .unwrap()
            .trim_start_matches("cutroom_refresh=")
            .to_owned()
    };

    let login = send(
        "/v1/auth/login",
        browser(),
        Some(json!({"email": "cookie@example.org", "password": "correct horse"})),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(login.body["access_token"].is_string());
    assert!(login.body.get("refresh_token").is_none(), "{}", login.body);
    let set = set_cookie(&login);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/v1/auth", "Max-Age="] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http locally: {set}");
    let first = value(&set);
    assert!(first.starts_with("crr_"), "{set}");

    // The cookie alone, as a forged cross-site request would send it.
    let forged = send(
        "/v1/auth/refresh",
        vec![("cookie", format!("cutroom_refresh={first}"))],
        None,
    )
    .await;
    assert_problem(&forged, StatusCode::FORBIDDEN, "session_header_missing");

    // With the header: a new access token and a rotated cookie.
    let mut headers = browser();
    headers.push(("cookie", format!("cutroom_refresh={first}")));
    let rotated = send("/v1/auth/refresh", headers, None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert!(rotated.body.get("refresh_token").is_none());
    let second = value(&set_cookie(&rotated));
    assert_ne!(second, first);
    let me = t
        .call(
            Method::GET,
            "/v1/me",
            rotated.body["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    // Nothing sent at all.
    let none = send("/v1/auth/refresh", browser(), None).await;
    assert_problem(&none, StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // Logout ends the session and removes the cookie.
    let mut headers = browser();
    headers.push(("cookie", format!("cutroom_refresh={second}")));
    let out = send("/v1/auth/logout", headers, None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = set_cookie(&out);
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let mut headers = browser();
    headers.push(("cookie", format!("cutroom_refresh={second}")));
    let after = send("/v1/auth/refresh", headers, None).await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // A public (https) install marks the cookie Secure.
    let public =
        TestApp::with_config(|c| c.public_url = "https://cutroom.example.org".into()).await;
    let signup = public
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/auth/signup")
                .header("x-cutroom-session", "cookie")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({"email": "s@example.org", "password": "correct horse", "name": "S", "tenant_name": "S"})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    assert!(set_cookie(&signup).contains("Secure"));
}

/// A refresh can move the session to another of the user's tenants (the
/// web app's tenant switcher), and only to one of theirs.
#[tokio::test]
async fn refresh_switches_to_another_tenant_of_the_user() {
    let t = TestApp::new().await;
    let first = t.signup("switcher@example.org").await;
    let home = t.call(Method::GET, "/v1/me", Some(&first), None).await;
    let home_id = home.body["tenant"]["id"].as_str().unwrap().to_owned();
    // A second tenant invites the same person, who accepts while signed in.
    let other_owner = t.signup("other-owner@example.org").await;
    let invited = t
        .call(
            Method::POST,
            "/v1/members",
            Some(&other_owner),
            Some(json!({"email": "switcher@example.org", "role": "member"})),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let accepted = t
        .call(
            Method::POST,
            "/v1/me/invitations/accept",
            Some(&first),
            Some(json!({"token": invited.body["invitation"]["token"]})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["role"], "member", "{}", accepted.body);
    let away = t
        .call(Method::GET, "/v1/me", Some(&other_owner), None)
        .await;
    let away_id = away.body["tenant"]["id"].as_str().unwrap().to_owned();

    let login = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "switcher@example.org", "password": "correct horse"})),
        )
        .await;
    assert_eq!(login.body["tenant_id"], home_id.as_str());
    let refresh = login.body["refresh_token"].as_str().unwrap().to_owned();

    // Not a tenant of theirs: refused, and the token is not spent.
    let stranger = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh, "tenant_id": "019a0000-0000-7000-8000-000000000000"})),
        )
        .await;
    assert_problem(&stranger, StatusCode::FORBIDDEN, "not_a_member");

    let moved = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh, "tenant_id": away_id})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["tenant_id"], away_id.as_str());
    assert_eq!(moved.body["role"], "member");
    let access = moved.body["access_token"].as_str().unwrap();
    let me = t.call(Method::GET, "/v1/me", Some(access), None).await;
    assert_eq!(me.body["tenant"]["id"], away_id.as_str());
    assert_eq!(me.body["role"], "member");

    // The session goes on in the new tenant, and can come back.
    let next = moved.body["refresh_token"].as_str().unwrap();
    let same = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": next})),
        )
        .await;
    assert_eq!(same.body["tenant_id"], away_id.as_str(), "{}", same.body);
    let back = t
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": same.body["refresh_token"], "tenant_id": home_id})),
        )
        .await;
    assert_eq!(back.body["tenant_id"], home_id.as_str(), "{}", back.body);
    assert_eq!(back.body["role"], "owner");
}

use cutroom_tests::{Db, TestApp, both_dbs, email, session_from};
use reqwest::{Method, StatusCode};
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
    // Running failed work again is an admin's, for one job or a batch.
    let (status, batch) = app
        .post(
            "/v1/batches",
            member,
            json!({"name": "a.tar", "size_bytes": 10}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "members create batches: {batch}"
    );
    let id = batch["batch"]["id"].as_str().unwrap();
    for path in [
        format!("/v1/jobs/{}/retry", created["id"].as_str().unwrap()),
        format!("/v1/batches/{id}/retry"),
    ] {
        let (status, err) = app.post(&path, member, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {err}");
    }
    let (status, err) = app
        .post(
            &format!("/v1/batches/{id}/retry"),
            &owner.access_token,
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an owner may, once it ran: {err}"
    );
}
both_dbs!(roles_are_enforced_for_keys, super::roles_are_enforced);

/// A removed admin keeps nothing behind: the keys they made (and the keys
/// those keys made) stop working, and their open invitations are revoked.
async fn removing_an_admin_revokes_what_they_made(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Keys Inc").await;
    let (_, owners_key) = app
        .post(
            "/v1/api-keys",
            &owner.access_token,
            json!({"name": "owner's", "role": "admin"}),
        )
        .await;
    let owners_key = owners_key["key"].as_str().unwrap().to_owned();

    let admin_email = email("admin");
    let (_, invited) = app
        .post(
            "/v1/members",
            &owner.access_token,
            json!({"email": admin_email, "role": "admin"}),
        )
        .await;
    let (status, joined) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": invited["invitation"]["token"], "name": "Admin", "password": "a good password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let admin = session_from(&admin_email, &joined);

    let (status, key) = app
        .post(
            "/v1/api-keys",
            &admin.access_token,
            json!({"name": "admin's", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let admins_key = key["key"].as_str().unwrap().to_owned();
    // A key the admin's key made, and invitations by each.
    let (status, minted) = app
        .post(
            "/v1/api-keys",
            &admins_key,
            json!({"name": "minted", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    let minted = minted["key"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for by in [&admin.access_token, &admins_key, &minted] {
        let (status, inv) = app
            .post(
                "/v1/members",
                by,
                json!({"email": email("friend"), "role": "admin"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        tokens.push(inv["invitation"]["token"].as_str().unwrap().to_owned());
    }

    let (status, _) = app
        .delete(
            &format!("/v1/members/{}", admin.user_id),
            &owner.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    for key in [&admins_key, &minted] {
        let (status, err) = app.get("/v1/jobs", key).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a removed admin's key is refused: {err}"
        );
        let (status, _) = app
            .post(
                "/v1/api-keys",
                key,
                json!({"name": "again", "role": "admin"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "and mints nothing");
    }
    for token in &tokens {
        let (status, err) = app
            .request(
                Method::POST,
                "/v1/auth/accept-invite",
                None,
                Some(json!({"token": token, "name": "Friend", "password": "a good password"})),
            )
            .await;
        assert_eq!(
            (status, &err["code"]),
            (StatusCode::NOT_FOUND, &json!("invalid_invitation")),
            "their invitations are revoked: {err}"
        );
    }
    let (status, list) = app.get("/v1/invitations", &owner.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]), "{list}");

    // What others made still works.
    let (status, _) = app.get("/v1/jobs", &owners_key).await;
    assert_eq!(status, StatusCode::OK, "the owner's key is untouched");
    let (_, keys) = app.get("/v1/api-keys", &owner.access_token).await;
    let revoked = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_string())
        .count();
    assert_eq!(revoked, 2, "{keys}");
}
both_dbs!(
    removing_an_admin_revokes_what_they_made,
    super::removing_an_admin_revokes_what_they_made
);

/// A demoted admin keeps only what the new role could have made: keys
/// above it stop working, and the invitations they may no longer send are
/// revoked; a key within the new role goes on working.
async fn demoting_an_admin_revokes_what_exceeds_the_new_role(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Demotions Inc").await;
    let admin_email = email("admin");
    let (_, invited) = app
        .post(
            "/v1/members",
            &owner.access_token,
            json!({"email": admin_email, "role": "admin"}),
        )
        .await;
    let (status, joined) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": invited["invitation"]["token"], "name": "Admin", "password": "a good password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let admin = session_from(&admin_email, &joined);
    let mut keys = Vec::new();
    for role in ["admin", "member"] {
        let (status, key) = app
            .post(
                "/v1/api-keys",
                &admin.access_token,
                json!({"name": role, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    let (_, pending) = app
        .post(
            "/v1/members",
            &admin.access_token,
            json!({"email": email("friend"), "role": "viewer"}),
        )
        .await;

    let (status, _) = app
        .patch(
            &format!("/v1/members/{}", admin.user_id),
            &owner.access_token,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/jobs", &keys[0]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the admin key is revoked");
    let (status, _) = app.get("/v1/jobs", &keys[1]).await;
    assert_eq!(status, StatusCode::OK, "the member key goes on");
    let (status, err) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": pending["invitation"]["token"], "name": "Friend", "password": "a good password"})),
        )
        .await;
    assert_eq!(
        (status, &err["code"]),
        (StatusCode::NOT_FOUND, &json!("invalid_invitation")),
        "members do not invite: {err}"
    );
}
both_dbs!(
    demoting_an_admin_revokes_what_exceeds_the_new_role,
    super::demoting_an_admin_revokes_what_exceeds_the_new_role
);

//! A tenant's members: invitations, roles, the last owner, and role and
//! settings changes running side by side.

use super::*;

#[tokio::test]
async fn invitations_roles_and_the_last_owner() {
    let t = TestApp::new().await;
    let owner = t.signup("owner@example.org").await;
    let me = t.call(Method::GET, "/v1/me", Some(&owner), None).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let tenant_id = me.body["tenant"]["id"].as_str().unwrap().to_owned();

    // No account yet: an invitation, redeemed with a new password.
    let invite = json!({"email": "Vera@example.org", "role": "viewer"});
    let invited = t
        .call(Method::POST, "/v1/members", Some(&owner), Some(invite))
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert!(invited.body.get("member").is_none(), "{}", invited.body);
    let token = invited.body["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let accept = json!({"token": token, "name": "Vera", "password": "viewer password"});
    let joined = t
        .call(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(accept.clone()),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(
        (
            joined.body["role"].as_str(),
            joined.body["tenant_id"].as_str()
        ),
        (Some("viewer"), Some(tenant_id.as_str()))
    );
    let viewer = joined.body["access_token"].as_str().unwrap().to_owned();
    let viewer_id = joined.body["user_id"].as_str().unwrap().to_owned();
    let reused = t
        .call(Method::POST, "/v1/auth/accept-invite", None, Some(accept))
        .await;
    assert_problem(&reused, StatusCode::NOT_FOUND, "invalid_invitation");

    // Viewers read but do not write.
    assert_eq!(
        t.call(Method::GET, "/v1/jobs", Some(&viewer), None)
            .await
            .status,
        StatusCode::OK
    );
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10});
    assert_problem(
        &t.call(Method::POST, "/v1/uploads", Some(&viewer), Some(upload))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let job = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}});
    assert_problem(
        &t.call(Method::POST, "/v1/jobs", Some(&viewer), Some(job))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // An admin cannot grant ownership; the last owner cannot step down.
    let promote = json!({"role": "admin"});
    let promoted = t
        .call(
            Method::PATCH,
            &format!("/v1/members/{viewer_id}"),
            Some(&owner),
            Some(promote),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin", "{}", promoted.body);
    let grant = json!({"role": "owner"});
    let denied = t
        .call(
            Method::PATCH,
            &format!("/v1/members/{viewer_id}"),
            Some(&viewer),
            Some(grant),
        )
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "forbidden");
    let demote = json!({"role": "member"});
    let last = t
        .call(
            Method::PATCH,
            &format!("/v1/members/{owner_id}"),
            Some(&owner),
            Some(demote),
        )
        .await;
    assert_problem(&last, StatusCode::CONFLICT, "last_owner");
    let leave = t
        .call(
            Method::DELETE,
            &format!("/v1/members/{owner_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_problem(&leave, StatusCode::CONFLICT, "last_owner");

    // Removal takes effect on the next request, even with a live access token.
    let removed = t
        .call(
            Method::DELETE,
            &format!("/v1/members/{viewer_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_problem(
        &t.call(Method::GET, "/v1/jobs", Some(&viewer), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let members = t.call(Method::GET, "/v1/members", Some(&owner), None).await;
    assert_eq!(
        members.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        members.body
    );
}

/// Writes that read first (a role change checks the member, a settings
/// change reads the old ones) run side by side on SQLite without a 500:
/// a deferred transaction there cannot take the write lock once another
/// connection wrote after its read, so they begin IMMEDIATE instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_then_write_transactions_all_succeed() {
    let t = TestApp::new().await;
    let owner = t.signup("busy-owner@example.org").await;
    let mut members = Vec::new();
    for i in 0..4 {
        t.join(&owner, &format!("busy-{i}@example.org"), "member")
            .await;
        let me = t.call(Method::GET, "/v1/members", Some(&owner), None).await;
        let id = me.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == format!("busy-{i}@example.org"))
            .unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        members.push(id);
    }
    let calls = (0..48).map(|i| {
        let (t, owner, members) = (&t, &owner, &members);
        async move {
            if i % 3 == 0 {
                let threshold = 0.3 + f64::from(i) / 100.0;
                let body = json!({"moderation": {"rules": {"violence": {"threshold": threshold, "action": "flag"}}}});
                t.call(Method::PATCH, "/v1/tenant/settings", Some(owner), Some(body))
                    .await
            } else {
                let role = if i % 2 == 0 { "viewer" } else { "member" };
                let id = &members[i as usize % members.len()];
                t.call(
                    Method::PATCH,
                    &format!("/v1/members/{id}"),
                    Some(owner),
                    Some(json!({ "role": role })),
                )
                .await
            }
        }
    });
    let replies = futures::future::join_all(calls).await;
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| format!("{} {}", r.status, r.body))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 48 failed: {failed:?}",
        failed.len()
    );
}

//! Joining a tenant: every addition is an invitation that the invitee
//! accepts with its token, as the account the invitation names. E-mail
//! addresses are not verified, so whoever signed up with an address first
//! must not become a member by being named, nor learn more than they could
//! without an account.

use cutroom_tests::{Db, Session, TestApp, both_dbs, email};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Invites `email` into the tenant of `admin`; returns the answer.
async fn invite(app: &TestApp, admin: &Session, email: &str, role: &str) -> Value {
    let (status, body) = app
        .post(
            "/v1/members",
            &admin.access_token,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn token(invited: &Value) -> String {
    invited["invitation"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("an invitation token: {invited}"))
        .to_owned()
}

/// The JSON's skeleton: the same keys, with each value's type instead of it.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// The attack of issue 21: the attacker signed up with the address of
/// someone the victim meant to add, and the victim's admin added it.
async fn squatter_is_not_a_member_until_accepting(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let victim = app.signup(&email("victim"), "Victim Co").await;
    let bob = email("bob");
    let attacker = app.signup(&bob, "Attacker Co").await;

    let invited = invite(&app, &victim, &bob, "admin").await;

    // The attacker cannot act in the victim's tenant: not by logging in
    // to it, nor by moving a session there.
    let (status, body) = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": bob, "password": "correct horse battery", "tenant_id": victim.tenant_id})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a named address is not a member: {body}"
    );
    let (status, body) = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": attacker.refresh_token, "tenant_id": victim.tenant_id})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, members) = app.get("/v1/members", &victim.access_token).await;
    assert_eq!(
        members["items"].as_array().unwrap().len(),
        1,
        "only the owner: {members}"
    );

    // The account sees that an invitation is waiting...
    let (status, me) = app.get("/v1/me", &attacker.access_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let pending = me["pending_invitations"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{me}");
    assert_eq!(pending[0]["tenant_id"], victim.tenant_id.as_str());
    // ...but accepting takes the token, which went to the real Bob.
    let (status, err) = app
        .post(
            "/v1/me/invitations/accept",
            &attacker.access_token,
            json!({"token": "cri_guessed"}),
        )
        .await;
    assert_eq!(
        (status, &err["code"]),
        (StatusCode::NOT_FOUND, &json!("invalid_invitation")),
        "{err}"
    );
    let (status, _) = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": bob, "password": "correct horse battery", "tenant_id": victim.tenant_id})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "still not a member");

    // The token alone does not let another account in either.
    let other = app.signup(&email("other"), "Other Co").await;
    let (status, err) = app
        .post(
            "/v1/me/invitations/accept",
            &other.access_token,
            json!({"token": token(&invited)}),
        )
        .await;
    assert_eq!(
        (status, &err["code"]),
        (
            StatusCode::FORBIDDEN,
            &json!("invitation_for_another_email")
        ),
        "{err}"
    );
    let (_, members) = app.get("/v1/members", &victim.access_token).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
}
both_dbs!(
    squatter_is_not_a_member_until_accepting,
    super::squatter_is_not_a_member_until_accepting
);

/// Whether an address has an account is nobody's business: the answer to
/// an invitation is the same either way, and names nobody.
async fn answers_do_not_reveal_accounts(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let admin = app.signup(&email("admin"), "Curious Co").await;
    let known = email("known");
    app.signup(&known, "Known's Own").await;
    let unknown = email("unknown");

    let to_known = invite(&app, &admin, &known, "member").await;
    let to_unknown = invite(&app, &admin, &unknown, "member").await;
    assert_eq!(
        shape(&to_known),
        shape(&to_unknown),
        "{to_known} vs {to_unknown}"
    );
    for body in [&to_known, &to_unknown] {
        assert!(body.get("member").is_none(), "no member set: {body}");
        assert!(
            !body.to_string().contains("Test User"),
            "no account's name: {body}"
        );
    }
    assert_eq!(to_known["invitation"]["email"], known.as_str());
}
both_dbs!(
    answers_do_not_reveal_accounts,
    super::answers_do_not_reveal_accounts
);

/// Admins see the invitations still open, without their tokens, and take
/// them back; a revoked token no longer joins.
async fn admins_list_and_revoke_invitations(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let owner = app.signup(&email("owner"), "Listing Co").await;
    let first = invite(&app, &owner, &email("first"), "viewer").await;
    let second = invite(&app, &owner, &email("second"), "member").await;

    let (status, list) = app.get("/v1/invitations", &owner.access_token).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert!(items.iter().all(|i| i["status"] == "pending"), "{list}");
    assert!(
        !list.to_string().contains(&token(&first)) && !list.to_string().contains("token"),
        "tokens are shown once: {list}"
    );

    let first_id = first["invitation"]["id"].as_str().unwrap();
    let (status, _) = app
        .delete(&format!("/v1/invitations/{first_id}"), &owner.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .delete(&format!("/v1/invitations/{first_id}"), &owner.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "revoking twice is harmless");
    let (_, list) = app.get("/v1/invitations", &owner.access_token).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "revoked ones are gone: {list}"
    );
    let (status, err) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": token(&first), "name": "Late", "password": "a good password"})),
        )
        .await;
    assert_eq!(
        (status, &err["code"]),
        (StatusCode::NOT_FOUND, &json!("invalid_invitation")),
        "{err}"
    );

    // An accepted one is a member now: remove the member instead.
    let (status, joined) = app
        .request(
            Method::POST,
            "/v1/auth/accept-invite",
            None,
            Some(json!({"token": token(&second), "name": "Sam", "password": "a good password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let second_id = second["invitation"]["id"].as_str().unwrap();
    let (status, err) = app
        .delete(&format!("/v1/invitations/{second_id}"), &owner.access_token)
        .await;
    assert_eq!(
        (status, &err["code"]),
        (StatusCode::CONFLICT, &json!("invitation_accepted")),
        "{err}"
    );
    let (_, list) = app.get("/v1/invitations", &owner.access_token).await;
    assert_eq!(list["items"], json!([]), "{list}");

    // Only admins see or change them.
    let member = joined["access_token"].as_str().unwrap();
    let (status, _) = app.get("/v1/invitations", member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
both_dbs!(
    admins_list_and_revoke_invitations,
    super::admins_list_and_revoke_invitations
);

/// Someone with an account sees their invitations in `GET /v1/me`,
/// accepts one with its token and declines another.
async fn accept_and_decline_while_signed_in(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let ada = app.signup(&email("ada"), "Ada's Studio").await;
    let eve = app.signup(&email("eve"), "Eve's Agency").await;
    let ola_email = email("ola");
    let ola = app.signup(&ola_email, "Ola's Own").await;

    let from_ada = invite(&app, &ada, &ola_email.to_uppercase(), "member").await;
    let from_eve = invite(&app, &eve, &ola_email, "viewer").await;
    let (_, me) = app.get("/v1/me", &ola.access_token).await;
    let pending = me["pending_invitations"].as_array().unwrap();
    assert_eq!(pending.len(), 2, "{me}");
    let ada_invite = pending
        .iter()
        .find(|i| i["tenant_name"] == "Ada's Studio")
        .unwrap_or_else(|| panic!("{me}"));
    assert_eq!(ada_invite["role"], "member");
    assert_eq!(ada_invite["id"], from_ada["invitation"]["id"]);
    assert!(
        !me.to_string().contains("cri_"),
        "no tokens in /v1/me: {me}"
    );

    // Nobody else sees them, or can decline them.
    let (_, eve_me) = app.get("/v1/me", &eve.access_token).await;
    assert_eq!(eve_me["pending_invitations"], json!([]), "{eve_me}");
    let eve_id = from_eve["invitation"]["id"].as_str().unwrap();
    let (status, _) = app
        .request(
            Method::POST,
            &format!("/v1/me/invitations/{eve_id}/decline"),
            Some(&ada.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, joined) = app
        .post(
            "/v1/me/invitations/accept",
            &ola.access_token,
            json!({"token": token(&from_ada)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["tenant_id"], ada.tenant_id.as_str());
    assert_eq!(joined["role"], "member");
    let (status, again) = app
        .post(
            "/v1/me/invitations/accept",
            &ola.access_token,
            json!({"token": token(&from_ada)}),
        )
        .await;
    assert_eq!(
        (status, &again["code"]),
        (StatusCode::NOT_FOUND, &json!("invalid_invitation"))
    );

    let (status, _) = app
        .request(
            Method::POST,
            &format!("/v1/me/invitations/{eve_id}/decline"),
            Some(&ola.access_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = app
        .post(
            "/v1/me/invitations/accept",
            &ola.access_token,
            json!({"token": token(&from_eve)}),
        )
        .await;
    assert_eq!(
        (status, &err["code"]),
        (StatusCode::NOT_FOUND, &json!("invalid_invitation")),
        "a declined invitation is spent: {err}"
    );
    let (_, list) = app.get("/v1/invitations", &eve.access_token).await;
    assert_eq!(list["items"][0]["status"], "declined", "{list}");

    let (_, me) = app.get("/v1/me", &ola.access_token).await;
    assert_eq!(me["pending_invitations"], json!([]), "{me}");
    let tenants: Vec<&str> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["tenant_name"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["Ola's Own", "Ada's Studio"], "{me}");
    let (status, moved) = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": ola.refresh_token, "tenant_id": ada.tenant_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["role"], "member");

    // Programs do not accept invitations for people.
    let from_ada = invite(&app, &ada, &email("keyless"), "member").await;
    let (_, key) = app
        .post("/v1/api-keys", &ada.access_token, json!({"name": "bot"}))
        .await;
    let (status, err) = app
        .post(
            "/v1/me/invitations/accept",
            key["key"].as_str().unwrap(),
            json!({"token": token(&from_ada)}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
}
both_dbs!(
    accept_and_decline_while_signed_in,
    super::accept_and_decline_while_signed_in
);

//! Requests that got in during the live attack of issue 21, each asserting
//! it is now refused.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;

use super::*;

pub(crate) const LOOPBACK: &str = "127.0.0.1:50000";

impl TestApp {
    /// `GET /metrics` as if over a connection from `peer`, with `headers`.
    pub(crate) async fn scrape_from(&self, peer: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = Request::get("/metrics");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut req = req.body(Body::empty()).unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        self.send(req).await
    }
}

/// Made-up methods once each got their own label set: 3,000 of them added
/// 61 MB that never went away, and every scrape grew with each.
#[tokio::test]
async fn made_up_methods_and_paths_share_one_metrics_label() {
    let t = TestApp::new().await;
    for i in 0..20 {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let r = t.call(method, "/v1/jobs", None, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.body);
        let r = t
            .call(Method::GET, &format!("/no/such/path/{i}"), None, None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = t.scrape_from(LOOPBACK, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = r.body.as_str().unwrap();
    assert!(!text.contains("BREW"), "{text}");
    assert!(!text.contains("/no/such/path"), "{text}");
    for line in [
        "cutroom_http_request_duration_seconds_count{method=\"other\",route=\"/v1/jobs\",status=\"405\"} 20",
        "cutroom_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"404\"} 20",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

/// Without an operator token `/metrics` showed every tenant's counts to
/// anyone who asked.
#[tokio::test]
async fn metrics_without_an_operator_token_answer_only_this_machine() {
    let t = TestApp::new().await;
    for peer in ["203.0.113.9:40000", "[2001:db8::1]:40000"] {
        let r = t.scrape_from(peer, &[]).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "metrics_local_only");
    }
    // A reverse proxy on the same host connects from loopback for anyone.
    let r = t
        .scrape_from(LOOPBACK, &[("x-forwarded-for", "203.0.113.9")])
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "metrics_local_only");
    // A request that came over no socket at all is not presumed local.
    let r = t.call(Method::GET, "/metrics", None, None).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "metrics_local_only");
    for peer in [LOOPBACK, "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        let r = t.scrape_from(peer, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{peer}: {}", r.body);
    }

    // With a token, only the token opens them, from anywhere.
    let operator = "an-operator-token-that-is-long-enough";
    let t = TestApp::with_config(|c| c.operator_token = Some(operator.to_owned().into())).await;
    let r = t.scrape_from(LOOPBACK, &[]).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let bearer = format!("Bearer {operator}");
    let r = t
        .scrape_from("203.0.113.9:40000", &[("authorization", &bearer)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

impl TestApp {
    /// `POST path` with `Idempotency-Key: key`.
    async fn post_once(&self, token: &str, path: &str, key: &str, body: &Value) -> Reply {
        let req = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }
}

/// A viewer who sent a member's Idempotency-Key got the member's stored
/// answer, with an upload URL that worked.
#[tokio::test]
async fn idempotency_keys_replay_only_to_the_credential_that_made_them() {
    let t = TestApp::new().await;
    let owner = t.signup("owner@idem.example").await;
    let member = t.join(&owner, "member@idem.example", "member").await;
    let viewer = t.join(&owner, "viewer@idem.example", "viewer").await;
    let upload = json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000});

    let first = t.post_once(&member, "/v1/uploads", "k-1", &upload).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = t.post_once(&member, "/v1/uploads", "k-1", &upload).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["upload_id"], first.body["upload_id"]);

    // The viewer may not create uploads: refused, not handed the member's.
    let stolen = t.post_once(&viewer, "/v1/uploads", "k-1", &upload).await;
    assert_problem(&stolen, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        !stolen.body.to_string().contains("upload_url"),
        "{}",
        stolen.body
    );

    // Another writer's key of the same name is its own: a fresh upload.
    for other in [owner.clone(), t.api_key(&owner, "member").await] {
        let theirs = t.post_once(&other, "/v1/uploads", "k-1", &upload).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
        assert_eq!(theirs.headers["idempotent-replayed"], "false");
        assert_ne!(theirs.body["upload_id"], first.body["upload_id"]);
    }

    // Demoted to viewer, the member no longer gets even its own answer.
    let me = t.call(Method::GET, "/v1/me", Some(&member), None).await;
    let id = me.body["user"]["id"]
        .as_str()
        .expect("user id in /v1/me")
        .to_owned();
    let demote = json!({"role": "viewer"});
    let r = t
        .call(
            Method::PATCH,
            &format!("/v1/members/{id}"),
            Some(&owner),
            Some(demote),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let replay = t.post_once(&member, "/v1/uploads", "k-1", &upload).await;
    assert_problem(&replay, StatusCode::FORBIDDEN, "forbidden");
}

impl TestApp {
    /// An API key of the tenant of `admin`, with `role`.
    async fn api_key(&self, admin: &str, role: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(admin),
                Some(json!({"name": "script", "role": role})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["key"].as_str().unwrap().to_owned()
    }
}

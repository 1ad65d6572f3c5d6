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

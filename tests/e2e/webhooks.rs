//! Webhooks end to end: a real receiver on a socket gets signed messages
//! that the Standard Webhooks reference library verifies, a failed attempt
//! is retried with the same `webhook-id`, the log shows every attempt,
//! redelivery works, an endpoint that keeps failing is disabled, internal
//! addresses are refused, and other tenants see nothing.

use std::time::Duration;

use cutroom_tests::{
    Db, TestApp, both_dbs, email,
    webhooks::{Received, Receiver},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const YOUTUBE: &str = "https://www.youtube.com/watch?v=dQw4w9WgXcQ";

/// An app whose webhooks may reach `allowed` (loopback), retrying quickly.
async fn app_for(db: Db, allowed: &[&str]) -> TestApp {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    TestApp::builder(db)
        .without_worker()
        .configure(move |c| {
            c.webhooks.private_hosts.extend(allowed);
            c.webhooks.schedule = vec![Duration::ZERO, Duration::from_millis(200)];
            c.webhooks.poll_interval = Duration::from_millis(50);
        })
        .start()
        .await
}

pub fn verify(secret: &str, r: &Received) {
    standardwebhooks::Webhook::new(secret)
        .expect("the secret is a Standard Webhooks secret")
        .verify(&r.body, &r.headers)
        .unwrap_or_else(|e| panic!("signature does not verify ({e:?}): {:?}", r.json()));
}

async fn signed_retried_logged_redelivered(db: Db) {
    // The first attempt fails with a 500, the rest succeed.
    let receiver = Receiver::start(&[500]).await;
    let app = app_for(db, &[&receiver.addr]).await;
    let owner = app.signup(&email("hooks"), "Hooks Inc").await;
    let token = &owner.access_token;

    let (status, hook) = app
        .post(
            "/v1/webhooks",
            token,
            json!({"url": receiver.url(), "events": ["job.created", "job.cancelled", "job.created"], "description": "ops"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(hook["events"], json!(["job.created", "job.cancelled"]));
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let (_, listed) = app.get("/v1/webhooks", token).await;
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": YOUTUBE}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();

    // job.created: refused once, then delivered with the same id.
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].id(), got[1].id(), "a retry keeps its webhook-id");
    for r in &got {
        verify(&secret, r);
        let body = r.json();
        assert_eq!(body["type"], "job.created", "{body}");
        assert_eq!(body["data"]["job_id"], job_id.as_str(), "{body}");
        assert!(body["timestamp"].is_string(), "{body}");
    }

    let (status, _) = app
        .post(&format!("/v1/jobs/{job_id}/cancel"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for(3).await;
    verify(&secret, &got[2]);
    assert_eq!(got[2].json()["type"], "job.cancelled");
    assert_eq!(got[2].json()["data"]["details"]["code"], "cancelled");

    // The log: newest first, every attempt with its status code.
    let path = format!("/v1/webhooks/{hook_id}/deliveries");
    let (status, log) = wait_delivered(&app, token, &path, 2).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{log}");
    let created = &items[1];
    assert_eq!(created["event_type"], "job.created");
    assert_eq!(created["id"], got[0].id(), "the log is keyed by webhook-id");
    assert_eq!(created["attempts"], 2);
    let codes: Vec<&Value> = created["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(204)], "{created}");
    assert!(created["log"][0]["error"].as_str().unwrap().contains("500"));
    assert_eq!(created["payload"]["type"], "job.created");
    let (_, failed_only) = app.get(&format!("{path}?status=failed"), token).await;
    assert_eq!(failed_only["items"], json!([]));

    // Redelivery: the same message again, same id, fresh signature.
    let (status, again) = app
        .post(
            &format!("{path}/{}/redeliver", got[0].id()),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    let got = receiver.wait_for(4).await;
    assert_eq!(got[3].id(), got[0].id());
    assert_eq!(got[3].body, got[0].body, "the same bytes");
    verify(&secret, &got[3]);

    // Another tenant sees none of it; a member of the same tenant may not manage it.
    let other = app.signup(&email("other"), "Other Co").await;
    for (method, p) in [
        (reqwest::Method::GET, format!("/v1/webhooks/{hook_id}")),
        (reqwest::Method::PATCH, format!("/v1/webhooks/{hook_id}")),
        (reqwest::Method::DELETE, format!("/v1/webhooks/{hook_id}")),
        (reqwest::Method::GET, path.clone()),
        (
            reqwest::Method::POST,
            format!("{path}/{}/redeliver", got[0].id()),
        ),
    ] {
        let body = (method != reqwest::Method::GET && method != reqwest::Method::DELETE)
            .then(|| json!({}));
        let (status, err) = app
            .request(method.clone(), &p, Some(&other.access_token), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {p}: {err}");
    }
    let (_, other_list) = app.get("/v1/webhooks", &other.access_token).await;
    assert_eq!(other_list["items"], json!([]));
    let (status, key) = app
        .post(
            "/v1/api-keys",
            token,
            json!({"name": "member", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = app.get("/v1/webhooks", key["key"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");

    let (status, _) = app.delete(&format!("/v1/webhooks/{hook_id}"), token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the log goes with it");
}
both_dbs!(
    webhooks_are_signed_retried_logged_and_redelivered,
    super::signed_retried_logged_redelivered
);

/// Polls the delivery log until `n` messages are delivered.
async fn wait_delivered(app: &TestApp, token: &str, path: &str, n: usize) -> (StatusCode, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, log) = app.get(path, token).await;
        let delivered = log["items"]
            .as_array()
            .map(|a| a.iter().filter(|d| d["status"] == "delivered").count())
            .unwrap_or(0);
        if status != StatusCode::OK || delivered >= n {
            return (status, log);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn failing_endpoints_are_disabled(db: Db) {
    // Nothing listens on this port: every attempt fails to connect.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::builder(db)
        .without_worker()
        .configure({
            let allowed = [closed.clone(), receiver.addr.clone()];
            move |c| {
                c.webhooks.private_hosts.extend(allowed);
                c.webhooks.schedule = vec![Duration::from_millis(100); 6];
                c.webhooks.poll_interval = Duration::from_millis(50);
                c.webhooks.disable_after = Duration::from_millis(300);
            }
        })
        .start()
        .await;
    let owner = app.signup(&email("down"), "Down Inc").await;
    let token = &owner.access_token;
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            token,
            json!({"url": format!("http://{closed}/hook"), "events": ["job.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": YOUTUBE}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let hook = loop {
        let (_, hook) = app.get(&format!("/v1/webhooks/{hook_id}"), token).await;
        if hook["enabled"] == false {
            break hook;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never disabled: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        hook["disabled_reason"].as_str().unwrap().contains("failed"),
        "{hook}"
    );
    let path = format!("/v1/webhooks/{hook_id}/deliveries");
    let (_, log) = app.get(&path, token).await;
    let message = &log["items"][0];
    assert_eq!(message["status"], "failed", "{log}");
    let attempts = message["log"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{log}");
    for a in attempts {
        assert!(a["status_code"].is_null(), "{a}");
        assert!(
            a["error"].as_str().unwrap().contains("connect"),
            "the log says why: {a}"
        );
    }
    let message_id = message["id"].as_str().unwrap().to_owned();
    let (status, err) = app
        .post(&format!("{path}/{message_id}/redeliver"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "webhook_disabled");

    // Fixed: pointed at a receiver that answers, enabled, redelivered.
    let (status, hook) = app
        .patch(
            &format!("/v1/webhooks/{hook_id}"),
            token,
            json!({"url": receiver.url(), "enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hook}");
    assert_eq!(hook["enabled"], true);
    assert!(hook["disabled_reason"].is_null());
    let (status, _) = app
        .post(&format!("{path}/{message_id}/redeliver"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].id(), message_id);
    verify(&secret, &got[0]);
    let (_, log) = wait_delivered(&app, token, &path, 1).await;
    assert_eq!(log["items"][0]["status"], "delivered", "{log}");
}
both_dbs!(
    webhooks_that_keep_failing_are_disabled,
    super::failing_endpoints_are_disabled
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_are_guarded() {
    let app = TestApp::builder(Db::Sqlite).without_worker().start().await;
    let owner = app.signup(&email("ssrf"), "Guarded").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://metadata.google.internal/",
    ] {
        let (status, err) = app
            .post(
                "/v1/webhooks",
                &owner.access_token,
                json!({"url": url, "events": ["job.succeeded"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {err}");
        assert_eq!(err["code"], "invalid_webhook_url", "{url}");
    }
    for (url, events) in [
        ("file:///etc/passwd", json!(["job.succeeded"])),
        ("https://user:pw@example.com/", json!(["job.succeeded"])),
        ("https://example.com/", json!([])),
        ("https://example.com/", json!(["job.exploded"])),
    ] {
        let (status, err) = app
            .post(
                "/v1/webhooks",
                &owner.access_token,
                json!({"url": url, "events": events}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {err}");
    }
    let (status, ok) = app
        .post(
            "/v1/webhooks",
            &owner.access_token,
            json!({"url": "https://example.com/hooks", "events": ["job.succeeded"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "a public URL is fine: {ok}");
}

/// Twenty endpoints of one tenant that accept the connection and never
/// answer do not hold back another tenant's message: the sender keeps a
/// few messages of each tenant (and each endpoint) in flight, not a batch
/// at a time.
async fn slow_endpoints_do_not_starve_other_tenants(db: Db) {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap().to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    let receiver = Receiver::start(&[]).await;
    let allowed = [hang_addr.clone(), receiver.addr.clone()];
    let app = TestApp::builder(db)
        .without_worker()
        .configure(move |c| {
            c.webhooks.private_hosts.extend(allowed);
            // Long enough that a hanging attempt outlives the test.
            c.webhooks.timeout = Duration::from_secs(3600);
            c.webhooks.poll_interval = Duration::from_millis(50);
        })
        .start()
        .await;

    let slow = app.signup(&email("slowhooks"), "Slow Hooks").await;
    let mut slow_hooks = Vec::new();
    for k in 0..20 {
        let (status, hook) = app
            .post(
                "/v1/webhooks",
                &slow.access_token,
                json!({"url": format!("http://{hang_addr}/hook/{k}"), "events": ["job.created"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        slow_hooks.push(hook["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = app
        .post(
            "/v1/jobs",
            &slow.access_token,
            json!({"source": {"type": "youtube", "url": YOUTUBE}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // The slow tenant's messages are being sent (and hang).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while connections.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let fast = app.signup(&email("fasthooks"), "Fast Hooks").await;
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &fast.access_token,
            json!({"url": receiver.url(), "events": ["job.created"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (status, job) = app
        .post(
            "/v1/jobs",
            &fast.access_token,
            json!({"source": {"type": "youtube", "url": YOUTUBE}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let got = receiver.wait_for(1).await;
    verify(&secret, &got[0]);
    assert_eq!(got[0].json()["data"]["job_id"], job["id"]);
    let path = format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
    let (_, log) = wait_delivered(&app, &fast.access_token, &path, 1).await;
    assert_eq!(log["items"][0]["status"], "delivered", "{log}");

    // Meanwhile the slow tenant's messages still wait on their receivers.
    let (_, log) = app
        .get(
            &format!("/v1/webhooks/{}/deliveries", slow_hooks[0]),
            &slow.access_token,
        )
        .await;
    assert_eq!(log["items"][0]["status"], "pending", "{log}");
    assert_eq!(log["items"][0]["attempts"], 0, "{log}");
}
both_dbs!(
    slow_endpoints_of_one_tenant_do_not_starve_another,
    super::slow_endpoints_do_not_starve_other_tenants
);

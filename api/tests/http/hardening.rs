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

/// A fresh upload of `size` bytes: its id and its PUT URL's path.
pub(super) async fn new_upload(t: &TestApp, token: &str, size: usize) -> (String, String) {
    let create = json!({"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": size});
    let up = t
        .call(Method::POST, "/v1/uploads", Some(token), Some(create))
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let url = up.body["url"].as_str().unwrap();
    let path = url.strip_prefix(&t.app.config.public_url).unwrap();
    (
        up.body["upload_id"].as_str().unwrap().to_owned(),
        path.to_owned(),
    )
}

pub(super) fn put(path: &str, size: usize, body: Body) -> Request<Body> {
    Request::put(path)
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, size)
        .body(body)
        .unwrap()
}

/// The temporary files in the folder an upload's object lands in.
pub(super) fn partials(t: &TestApp, path: &str) -> Vec<std::path::PathBuf> {
    let key = path
        .split('?')
        .next()
        .unwrap()
        .strip_prefix("/storage/")
        .unwrap();
    let store = t.app.local_store.as_ref().unwrap();
    let dir = store.path_of(key).unwrap().parent().unwrap().to_owned();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect()
}

/// Five parallel PUTs to one signed URL left five temporary files (246 MB
/// in the attack), and a PUT after the job ended answered 200 and its file
/// stayed.
#[tokio::test]
async fn one_put_at_a_time_and_none_after_completion() {
    let t = TestApp::new().await;
    let token = t.signup("put@example.org").await;
    let bytes = b"not really a video, but the right size".to_vec();
    let (id, path) = new_upload(&t, &token, bytes.len()).await;

    // The first PUT sends half its body, then waits.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = Body::from_stream(tokio_stream_from(rx));
    let first = tokio::spawn({
        let router = t.router.clone();
        let req = put(&path, bytes.len(), body);
        async move { router.oneshot(req).await.unwrap().status() }
    });
    tx.send(Ok(bytes[..10].to_vec())).await.unwrap();
    while partials(&t, &path).is_empty() {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    for _ in 0..4 {
        let again = t
            .send(put(&path, bytes.len(), Body::from(bytes.clone())))
            .await;
        assert_problem(&again, StatusCode::CONFLICT, "upload_in_progress");
    }
    assert_eq!(partials(&t, &path).len(), 1);
    // Nor can the upload be completed under the PUT's feet.
    let complete = format!("/v1/uploads/{id}/complete");
    let early = t.call(Method::POST, &complete, Some(&token), None).await;
    assert_problem(&early, StatusCode::CONFLICT, "upload_in_progress");

    tx.send(Ok(bytes[10..].to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    assert!(partials(&t, &path).is_empty());
    let done = t.call(Method::POST, &complete, Some(&token), None).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);

    // The job has the upload now: the URL, still signed and unexpired,
    // takes nothing more.
    let late = t
        .send(put(&path, bytes.len(), Body::from(bytes.clone())))
        .await;
    assert_problem(&late, StatusCode::CONFLICT, "upload_completed");

    // Swept as abandoned: nothing either.
    let (_, path) = new_upload(&t, &token, bytes.len()).await;
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    cutroom_core::housekeeping::sweep::expired_uploads(&t.housekeeper(), later)
        .await
        .unwrap();
    let late = t
        .send(put(&path, bytes.len(), Body::from(bytes.clone())))
        .await;
    assert_problem(&late, StatusCode::GONE, "upload_expired");
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A crash mid-upload left its temporary file for good: the sweeper did
/// not look for them.
#[tokio::test]
async fn the_sweeper_removes_temporary_files_a_crash_left() {
    let t = TestApp::with_config(|c| c.sweep_interval = std::time::Duration::from_millis(50)).await;
    let token = t.signup("crash@example.org").await;
    let (_, path) = new_upload(&t, &token, 10).await;
    let key = path
        .split('?')
        .next()
        .unwrap()
        .strip_prefix("/storage/")
        .unwrap();
    let object = t.app.local_store.as_ref().unwrap().path_of(key).unwrap();
    let dir = object.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let leftover = dir.join(".0191a0b2-aaaa-7bbb-8ccc-dddddddddddd.part");
    std::fs::write(&leftover, b"half an upload").unwrap();

    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn(t.housekeeper().run(stop.clone()));
    // Bounded: on failure the test ends rather than hanging.
    let gone = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while leftover.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    stop.cancel();
    sweeper.await.unwrap();
    assert!(gone.is_ok(), "{} is still there", leftover.display());
}

/// Downloads from `/storage` were served inline with a guessed type, so a
/// browser could be made to render an uploaded file as a page.
#[tokio::test]
async fn downloads_are_attachments_the_browser_does_not_sniff() {
    let t = TestApp::new().await;
    let store = t.app.local_store.as_ref().unwrap();
    let key = "tenants/x/jobs/y/clips/clip-1.html";
    let file = store.path_of(key).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"<script>alert(1)</script>").unwrap();
    let get = cutroom_core::storage::ObjectStore::presign_get(
        store.as_ref(),
        key,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let path = get.url.strip_prefix(&t.app.config.public_url).unwrap();
    let r = t
        .send(Request::get(path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"clip-1.html\""
    );
}

impl TestApp {
    /// `POST path` with a JSON body, as if over a connection from `peer`.
    async fn post_from(&self, peer: &str, path: &str, body: Value) -> Reply {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        self.send(req).await
    }
}

fn assert_limited(r: &Reply) {
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

/// Nothing limited the endpoints that hand out credentials: 300 wrong
/// passwords in a row, no 429. One address gets 30 sign-in requests a
/// minute (`CUTROOM_AUTH_LIMIT_PER_MINUTE`), one account 10 logins
/// (`CUTROOM_LOGIN_LIMIT_PER_MINUTE`), by default.
#[tokio::test]
async fn sign_in_requests_are_limited_per_address_and_per_account() {
    let t = TestApp::new().await;
    t.signup("target@limits.example").await;

    // Per address: refreshes hash nothing, so they are quick to make.
    let guess = json!({"refresh_token": "a guess"});
    for _ in 0..30 {
        let r = t
            .post_from("203.0.113.9:1000", "/v1/auth/refresh", guess.clone())
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    }
    let r = t
        .post_from("203.0.113.9:1001", "/v1/auth/refresh", guess.clone())
        .await;
    assert_limited(&r);
    // Another address still gets an answer.
    let r = t
        .post_from("203.0.113.10:1000", "/v1/auth/refresh", guess.clone())
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // Per account: from a new address each time, the guesses still end.
    // The allowance refills one attempt every 6 s, and hashing is slow in
    // a debug build, so a few more than 10 may pass before the first 429.
    let wrong = json!({"email": "Target@limits.example", "password": "wrong password"});
    let mut refused = None;
    for i in 0..40 {
        let r = t
            .post_from(
                &format!("198.51.100.{i}:1000"),
                "/v1/auth/login",
                wrong.clone(),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_limited(&r);
            refused = Some(i);
            break;
        }
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let refused = refused.expect("40 wrong passwords in a row and no 429");
    assert!(refused >= 10, "refused after {refused} attempts");
    // Other accounts are not locked with it.
    let other = json!({"email": "other@limits.example", "password": "wrong password"});
    let r = t
        .post_from("198.51.100.78:1000", "/v1/auth/login", other)
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

/// Opens the tenant's live stream (`GET /v1/jobs` as `text/event-stream`)
/// with `token`; the answer's status and, when it is a stream, its body.
async fn open_stream(t: &TestApp, token: &str) -> (StatusCode, HeaderMap, Body) {
    let req = Request::get("/v1/jobs")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let res = t.router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    (parts.status, parts.headers, body)
}

/// Reads a stream until it ends; what it sent, or `None` when it is still
/// open after `bound`.
async fn until_stream_ends(body: Body, bound: std::time::Duration) -> Option<String> {
    use futures::StreamExt;
    let mut frames = body.into_data_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = frames.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    };
    tokio::time::timeout(bound, read).await.ok()?;
    Some(text)
}

/// One API key opened 100 live streams.
#[tokio::test]
async fn live_streams_are_capped_per_credential() {
    let t = TestApp::new().await;
    let owner = t.signup("streams@example.org").await;
    let key = t.api_key(&owner, "viewer").await;
    let mut open = Vec::new();
    for _ in 0..10 {
        let (status, _, body) = open_stream(&t, &key).await;
        assert_eq!(status, StatusCode::OK);
        open.push(body);
    }
    let (status, headers, body) = open_stream(&t, &key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let problem: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(problem["code"], "too_many_streams", "{problem}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // The owner is another credential, with streams of its own.
    let (status, _, _mine) = open_stream(&t, &owner).await;
    assert_eq!(status, StatusCode::OK);
    // A stream the client dropped gives its place back.
    open.pop();
    let (status, _, _again) = open_stream(&t, &key).await;
    assert_eq!(status, StatusCode::OK);
}

/// A revoked key's stream, and a removed member's, kept sending the
/// tenant's jobs.
#[tokio::test]
async fn live_streams_end_when_their_credential_goes() {
    let t =
        TestApp::with_config(|c| c.guards.live_recheck = std::time::Duration::from_secs(1)).await;
    let owner = t.signup("revoke@example.org").await;
    let member = t.join(&owner, "leaving@example.org", "member").await;
    let created = t
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&owner),
            Some(json!({"name": "watcher", "role": "viewer"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let key_id = created.body["id"].as_str().unwrap().to_owned();

    let (status, _, by_key) = open_stream(&t, &key).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, by_member) = open_stream(&t, &member).await;
    assert_eq!(status, StatusCode::OK);

    let r = t
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let me = t.call(Method::GET, "/v1/me", Some(&member), None).await;
    let member_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let r = t
        .call(
            Method::DELETE,
            &format!("/v1/members/{member_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    let bound = std::time::Duration::from_secs(30);
    for (who, body) in [("revoked key", by_key), ("removed member", by_member)] {
        let sent = until_stream_ends(body, bound)
            .await
            .unwrap_or_else(|| panic!("the {who}'s stream is still open"));
        assert!(sent.contains("event: closed"), "{who}: {sent}");
    }
}

//! In-process HTTP tests of the API over a temporary SQLite database and
//! local storage (no worker). The cross-tenant and end-to-end suites live in
//! the workspace's `tests/` crate.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use cutroom_api::App;
use cutroom_core::{Config, housekeeping::Housekeeper};
use sea_orm::EntityTrait;
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The server's limits on connections, over real sockets.
#[path = "http/connections.rs"]
mod connections;
/// The attacks of issue 21, each as the request that got in.
#[path = "http/hardening.rs"]
mod hardening;
/// The tenant's logo for audiograms.
#[path = "http/logo.rs"]
mod logo;

struct TestApp {
    router: Router,
    app: Arc<App>,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl TestApp {
    async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The same, with some configuration changed first.
    async fn with_config(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(dir.path(), SecretString::from("x".repeat(32)));
        config.in_process_worker = false;
        configure(&mut config);
        let app = App::new(config).await.unwrap();
        cutroom_migration::up(&app.db).await.unwrap();
        Self {
            router: cutroom_api::router(app.clone()),
            app,
            _dir: dir,
        }
    }

    /// The fleet's housekeeping on this app's database and store, as the
    /// `cutroom` binary runs it beside the API.
    fn housekeeper(&self) -> Arc<Housekeeper> {
        Housekeeper::new(
            self.app.config.clone(),
            self.app.db.clone(),
            self.app.store.clone(),
            self.app.local_store.clone(),
        )
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    /// Signs up a fresh tenant; returns its access token.
    async fn signup(&self, email: &str) -> String {
        let body = json!({"email": email, "password": "correct horse", "name": "Ada", "tenant_name": "Analytical"});
        let r = self
            .call(Method::POST, "/v1/auth/signup", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Invites a new person into the tenant of `admin` with `role`; returns
    /// their access token once they accepted.
    async fn join(&self, admin: &str, email: &str, role: &str) -> String {
        let invite = json!({"email": email, "role": role});
        let invited = self
            .call(Method::POST, "/v1/members", Some(admin), Some(invite))
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
        let token = invited.body["invitation"]["token"].as_str().unwrap();
        let accept = json!({"token": token, "name": "Grace", "password": "another password"});
        let joined = self
            .call(Method::POST, "/v1/auth/accept-invite", None, Some(accept))
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        joined.body["access_token"].as_str().unwrap().to_owned()
    }
}

fn assert_problem(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert_eq!(r.body["status"], status.as_u16());
}

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

#[tokio::test]
async fn bad_requests_are_problems() {
    let t = TestApp::new().await;
    let malformed = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{nope"));
    assert_problem(
        &t.send(malformed.unwrap()).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );

    let not_json = Request::post("/v1/auth/login")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"));
    assert_problem(
        &t.send(not_json.unwrap()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let missing = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "a@b.c"})),
        )
        .await;
    assert_problem(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        missing.body["detail"]
            .as_str()
            .unwrap()
            .contains("password")
    );

    let short =
        json!({"email": "a@example.org", "password": "short", "name": "A", "tenant_name": "T"});
    assert_problem(
        &t.call(Method::POST, "/v1/auth/signup", None, Some(short))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let unauthenticated = t.call(Method::GET, "/v1/jobs", None, None).await;
    assert_problem(&unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(unauthenticated.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_problem(
        &t.call(Method::GET, "/v1/jobs", Some("garbage"), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    assert_problem(
        &t.call(Method::GET, "/v1/nothing-here", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let health = t.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert!(health.headers.contains_key("x-request-id"));
    let ready = t.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (ready.status, ready.body.clone()),
        (
            StatusCode::OK,
            json!({"status": "ok", "database": "ok", "storage": "ok"})
        )
    );
    let spec = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.body["openapi"], "3.1.0");
}

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
async fn upload_through_local_storage_then_complete() {
    let t = TestApp::new().await;
    let token = t.signup("up@example.org").await;
    let bytes = b"not really a video, but the right size".to_vec();
    let create =
        json!({"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": bytes.len()});
    let up = t
        .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
        .await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    let id = up.body["upload_id"].as_str().unwrap().to_owned();
    let url = up.body["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&t.app.config.public_url)
        .unwrap()
        .to_owned();

    let early = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&early, StatusCode::CONFLICT, "upload_missing");

    let put = |body: Vec<u8>, ct: &str| {
        Request::put(path.as_str())
            .header(header::CONTENT_TYPE, ct)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .unwrap()
    };
    assert_problem(
        &t.send(put(bytes.clone(), "video/webm")).await,
        StatusCode::FORBIDDEN,
        "signature_mismatch",
    );
    assert_problem(
        &t.send(put(bytes[1..].to_vec(), "video/mp4")).await,
        StatusCode::FORBIDDEN,
        "signature_mismatch",
    );
    assert_eq!(
        t.send(put(bytes.clone(), "video/mp4")).await.status,
        StatusCode::OK
    );

    let done = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert_eq!(done.body["status"], "queued");
    assert_eq!(
        done.body["source"],
        json!({"type": "upload", "upload_id": id})
    );
    let twice = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict");

    let too_big = json!({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": t.app.config.max_upload_bytes + 1});
    assert_problem(
        &t.call(Method::POST, "/v1/uploads", Some(&token), Some(too_big))
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
    );
    let pdf = json!({"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10});
    assert_problem(
        &t.call(Method::POST, "/v1/uploads", Some(&token), Some(pdf))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_content_type",
    );
}

#[tokio::test]
async fn youtube_jobs_are_validated_listed_and_cancelled() {
    let t = TestApp::new().await;
    let token = t.signup("yt@example.org").await;
    let bad = json!({"source": {"type": "youtube", "url": "http://169.254.169.254/latest"}});
    assert_problem(
        &t.call(Method::POST, "/v1/jobs", Some(&token), Some(bad))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_source_url",
    );
    let unknown = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": {"silense": {}}});
    assert_problem(
        &t.call(Method::POST, "/v1/jobs", Some(&token), Some(unknown))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // Transcription options a model cannot honour are refused up front,
    // with a message that says what would work.
    for (options, says) in [
        (
            json!({"transcription": {"model": "large"}}),
            "tiny.en, base",
        ),
        (
            json!({"transcription": {"language": "xx"}}),
            "not a language",
        ),
        (
            json!({"transcription": {"model": "tiny.en", "language": "de"}}),
            "to base",
        ),
        (
            json!({"transcription": {"language": "de"}}),
            "this server's default",
        ),
    ] {
        let body = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": options});
        let r = t
            .call(Method::POST, "/v1/jobs", Some(&token), Some(body))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }

    let ok = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": {"silence": {"min_silence_ms": 300}}});
    let job = t
        .call(Method::POST, "/v1/jobs", Some(&token), Some(ok))
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.body);
    assert_eq!(
        job.body["source"]["url"],
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    );
    assert_eq!(job.body["options"]["silence"]["min_silence_ms"], 300);
    let id = job.body["id"].as_str().unwrap().to_owned();

    let page = t
        .call(
            Method::GET,
            "/v1/jobs?status=queued&limit=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(page.body["items"][0]["id"], id.as_str(), "{}", page.body);
    assert_eq!(page.body["next_cursor"], Value::Null);
    let bad_limit = t
        .call(Method::GET, "/v1/jobs?limit=0", Some(&token), None)
        .await;
    assert_problem(
        &bad_limit,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let cancelled = t
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["error"]["code"], "cancelled");
    let again = t
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "job_finished");

    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/v1/jobs/{id}"),
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &t.call(Method::GET, &format!("/v1/jobs/{id}"), Some(&token), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &t.call(Method::GET, "/v1/jobs/not-a-uuid", Some(&token), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

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

/// The settings of a tenant that chose nothing: every field unset.
fn defaults() -> Value {
    let endpoint = json!({"base_url": null, "model": null, "api_key_hint": null,
        "input_price": null, "output_price": null, "timeout_seconds": null});
    json!({
        "transcription": {"model": null},
        "analysis": {"provider": null, "gemini": endpoint, "openai": endpoint,
                     "max_in_flight": null, "chunk_seconds": null},
        "moderation": {"rules": {}, "custom": []}
    })
}

#[tokio::test]
async fn tenant_settings_are_read_by_members_and_changed_by_admins() {
    let t = TestApp::new().await;
    let owner = t.signup("settings@example.org").await;
    let member = t.join(&owner, "member@example.org", "member").await;
    let admin = t.join(&owner, "admin@example.org", "admin").await;
    let other = t.signup("elsewhere@example.org").await;
    let settings = "/v1/tenant/settings";

    // A new tenant has no defaults of its own: the server's apply.
    let fresh = t.call(Method::GET, settings, Some(&member), None).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body, defaults());

    let base = json!({"transcription": {"model": "base"}});
    assert_problem(
        &t.call(Method::PATCH, settings, Some(&member), Some(base.clone()))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    // Unknown models, fields and types are refused, naming the field.
    for (patch, says) in [
        (
            json!({"transcription": {"model": "large"}}),
            "transcription.model must be one of tiny.en, base",
        ),
        (
            json!({"transcription": {"model": 5}}),
            "transcription.model",
        ),
        (json!({"transcripton": {"model": "base"}}), "transcripton"),
        (json!(["base"]), "JSON object"),
    ] {
        let r = t
            .call(Method::PATCH, settings, Some(&owner), Some(patch))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }

    let set = t
        .call(Method::PATCH, settings, Some(&admin), Some(base))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["transcription"]["model"], "base");
    let read = t.call(Method::GET, settings, Some(&member), None).await;
    assert_eq!(read.body["transcription"]["model"], "base", "{}", read.body);

    // An empty patch changes nothing; `null` clears the tenant's default.
    let same = t
        .call(Method::PATCH, settings, Some(&owner), Some(json!({})))
        .await;
    assert_eq!(same.body["transcription"]["model"], "base", "{}", same.body);
    let clear = json!({"transcription": {"model": null}});
    let cleared = t
        .call(Method::PATCH, settings, Some(&owner), Some(clear))
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body, defaults());

    // Moderation rules per category; a threshold outside 0-1 is refused.
    let rules = json!({"moderation": {"rules": {"hate": {"threshold": 0.3, "action": "block"}}}});
    let set = t
        .call(Method::PATCH, settings, Some(&admin), Some(rules))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["moderation"]["rules"]["hate"]["action"], "block");
    let bad = json!({"moderation": {"rules": {"hate": {"threshold": 3, "action": "block"}}}});
    let r = t
        .call(Method::PATCH, settings, Some(&admin), Some(bad))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("moderation.rules.hate.threshold"),
        "{}",
        r.body
    );

    // Another tenant's settings are its own.
    let theirs = json!({"transcription": {"model": "tiny.en"}});
    let set = t
        .call(Method::PATCH, settings, Some(&other), Some(theirs))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let ours = t.call(Method::GET, settings, Some(&owner), None).await;
    assert_eq!(
        ours.body["transcription"]["model"],
        Value::Null,
        "{}",
        ours.body
    );
    let elsewhere = t.call(Method::GET, settings, Some(&other), None).await;
    assert_eq!(elsewhere.body["transcription"]["model"], "tiny.en");
}

/// A tenant's LLM endpoint is a URL the workers call with the tenant's
/// key: internal addresses are refused at save (unless the operator lists
/// them), model names cannot steer the request's path, and re-pointing
/// an endpoint needs its key again.
#[tokio::test]
async fn llm_endpoints_are_guarded_at_save() {
    let t = TestApp::with_config(|c| {
        c.llm_private_hosts.insert("127.0.0.1:8089".into());
    })
    .await;
    let owner = t.signup("llm-owner@example.org").await;
    let settings = "/v1/tenant/settings";
    let patch = |body: Value| t.call(Method::PATCH, settings, Some(&owner), Some(body));

    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:11434",
        "http://10.1.2.3:8000",
        "http://169.254.169.254",
        "http://metadata.google.internal",
        "http://[::1]:8080",
        "http://[::ffff:127.0.0.1]:8080",
        "http://0.0.0.0:8080",
    ] {
        for provider in ["openai", "gemini"] {
            let body =
                json!({"analysis": {provider: {"base_url": url, "model": "m", "api_key": "k"}}});
            let r = patch(body).await;
            assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
            assert!(
                r.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("analysis.{provider}.base_url")),
                "{url}: {}",
                r.body
            );
        }
    }
    // The operator's list lets a loopback llama-server in, on its port only.
    let ok = patch(
        json!({"analysis": {"openai": {"base_url": "http://127.0.0.1:8089", "model": "smollm2"}}}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let r = patch(json!({"analysis": {"openai": {"base_url": "http://127.0.0.1:8090"}}})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");

    // Model names: no path of their own.
    for (provider, model) in [
        ("gemini", "../../internal/admin#"),
        ("gemini", "models/../x"),
        ("gemini", "tuned/model"),
        ("gemini", "gemini-2.5-flash?alt=sse"),
        ("openai", "../../x"),
        ("openai", "a b"),
        ("openai", "m%2e%2e"),
    ] {
        let r = patch(json!({"analysis": {provider: {"model": model}}})).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("analysis.{provider}.model")),
            "{model}: {}",
            r.body
        );
    }
    let long = "m".repeat(201);
    let r = patch(json!({"analysis": {"openai": {"model": long}}})).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_llm_endpoint");
    for (provider, model) in [
        ("gemini", "gemini-2.5-flash"),
        ("openai", "Qwen/Qwen2.5-0.5B-Instruct"),
        ("openai", "qwen2.5:0.5b"),
    ] {
        let r = patch(json!({"analysis": {provider: {"model": model}}})).await;
        assert_eq!(r.status, StatusCode::OK, "{model}: {}", r.body);
    }
}

/// A stored key goes only where it was stored for: an admin (who cannot
/// read the owner's key) may not re-point the endpoint and keep the key.
#[tokio::test]
async fn a_moved_llm_endpoint_needs_its_key_again() {
    let t = TestApp::new().await;
    let owner = t.signup("key-owner@example.org").await;
    let admin = t.join(&owner, "key-admin@example.org", "admin").await;
    let settings = "/v1/tenant/settings";
    let patch = |body: Value| t.call(Method::PATCH, settings, Some(&owner), Some(body));
    let set = patch(json!({"analysis": {"gemini": {"base_url": "https://gemini-proxy.example.com", "api_key": "AIza-owner-secret"}}})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    for moved in [
        json!({"analysis": {"gemini": {"base_url": "https://attacker.example.net"}}}),
        json!({"analysis": {"gemini": {"base_url": null}}}),
    ] {
        let r = t
            .call(Method::PATCH, settings, Some(&admin), Some(moved))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "api_key_required");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("analysis.gemini.api_key"),
            "{}",
            r.body
        );
    }
    let kept = t.call(Method::GET, settings, Some(&admin), None).await;
    assert_eq!(
        kept.body["analysis"]["gemini"]["base_url"], "https://gemini-proxy.example.com",
        "{}",
        kept.body
    );
    assert_eq!(kept.body["analysis"]["gemini"]["api_key_hint"], "…cret");
    // With a key of their own, or dropping the stored one, it is fine; so
    // are changes that leave the URL alone.
    let r = t
        .call(
            Method::PATCH,
            settings,
            Some(&admin),
            Some(json!({"analysis": {"provider": "gemini", "gemini": {"timeout_seconds": 30}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .call(Method::PATCH, settings, Some(&admin), Some(json!({"analysis": {"gemini": {"base_url": "https://other.example.net", "api_key": "AIza-admin-key"}}})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["analysis"]["gemini"]["api_key_hint"], "…-key");
    let r = t
        .call(
            Method::PATCH,
            settings,
            Some(&admin),
            Some(json!({"analysis": {"openai": {"base_url": "https://llm.example.org"}}})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an endpoint without a key: {}",
        r.body
    );
}

#[tokio::test]
async fn jobs_without_a_model_take_the_tenant_default() {
    // The server's default knows every language; the tenant's will not.
    let t = TestApp::with_config(|c| c.whisper_model = "base".into()).await;
    let owner = t.signup("defaults@example.org").await;
    let other = t.signup("neighbour@example.org").await;
    let submit = async |token: &str, options: Value| {
        let body = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": options});
        t.call(Method::POST, "/v1/jobs", Some(token), Some(body))
            .await
    };
    let model_of = |r: &Reply| r.body["options"]["transcription"]["model"].clone();

    // Before a tenant default, the server's applies when the job runs and
    // nothing is written into the job.
    let french = json!({"transcription": {"language": "fr"}});
    let before = submit(&owner, french.clone()).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);
    assert_eq!(model_of(&before), Value::Null);

    let tiny = json!({"transcription": {"model": "tiny.en"}});
    let set = t
        .call(
            Method::PATCH,
            "/v1/tenant/settings",
            Some(&owner),
            Some(tiny),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);

    // The tenant default is stored with the job, so the worker runs it;
    // a model the job names wins.
    let plain = submit(&owner, json!({})).await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_eq!(model_of(&plain), "tiny.en");
    let id = plain.body["id"].as_str().unwrap();
    let stored = t
        .call(Method::GET, &format!("/v1/jobs/{id}"), Some(&owner), None)
        .await;
    assert_eq!(model_of(&stored), "tiny.en", "{}", stored.body);
    let chosen = submit(&owner, json!({"transcription": {"model": "base"}})).await;
    assert_eq!(model_of(&chosen), "base", "{}", chosen.body);

    // Validation uses the default that applies: tiny.en knows no French.
    let refused = submit(&owner, french.clone()).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("this tenant's default"),
        "{}",
        refused.body
    );

    // The neighbour still gets the server's default.
    let theirs = submit(&other, french).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert_eq!(model_of(&theirs), Value::Null);
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let t = TestApp::new().await;
    let token = t.signup("late@example.org").await;
    let create = json!({"filename": "late.mp4", "content_type": "video/mp4", "size_bytes": 3});
    let id = t
        .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
        .await
        .body["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let now = chrono::Utc::now();
    assert_eq!(
        cutroom_core::housekeeping::sweep::expired_uploads(&t.housekeeper(), now)
            .await
            .unwrap(),
        0
    );
    let later = now
        + t.app.config.upload_url_ttl
        + t.app.config.upload_grace
        + chrono::Duration::seconds(1);
    assert_eq!(
        cutroom_core::housekeeping::sweep::expired_uploads(&t.housekeeper(), later)
            .await
            .unwrap(),
        1
    );
    let done = t
        .call(
            Method::POST,
            &format!("/v1/uploads/{id}/complete"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&done, StatusCode::GONE, "upload_expired");
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

#[tokio::test]
async fn operator_routes_and_metrics() {
    // Without an operator token the operator routes do not exist, and the
    // metrics answer clients on the same machine.
    let t = TestApp::new().await;
    let r = t.call(Method::GET, "/v1/admin/workers", None, None).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    let r = t.scrape_from(hardening::LOOPBACK, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    let text = r.body.as_str().unwrap();
    assert!(text.contains("cutroom_jobs{status=\"queued\"} 0"), "{text}");

    let operator = "an-operator-token-that-is-long-enough";
    let t = TestApp::with_config(|c| c.operator_token = Some(operator.to_owned().into())).await;
    let owner = t.signup("ops@example.org").await;
    let r = t.call(Method::GET, "/v1/admin/workers", None, None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = t
        .call(Method::GET, "/v1/admin/workers", Some(&owner), None)
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = t.call(Method::GET, "/metrics", Some(&owner), None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // A job waits for a worker; a worker holds another.
    let r = t
        .call(
            Method::POST,
            "/v1/jobs",
            Some(&owner),
            Some(json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let job: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let row = cutroom_entities::job::Entity::find_by_id(job)
        .one(&t.app.db.orm)
        .await
        .unwrap()
        .unwrap();
    let db = &t.app.db.orm;
    cutroom_core::queries::workers::register(db, "cutroom-worker-test-1", "test", 1, "0.0.0")
        .await
        .unwrap();
    cutroom_core::queries::workers::took(db, "cutroom-worker-test-1", row.tenant_id, job)
        .await
        .unwrap();
    cutroom_core::queries::workers::register(db, "cutroom-worker-test-2", "test", 2, "0.0.0")
        .await
        .unwrap();
    // Prime the stage counter, then complete a stage after it.
    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    cutroom_core::queries::events::record(
        db,
        row.tenant_id,
        job,
        cutroom_core::events::JobEvent::StageCompleted(cutroom_core::Stage::Transcribe),
        Some(json!({"elapsed_ms": 1500})),
    )
    .await
    .unwrap();

    let r = t
        .call(Method::GET, "/v1/admin/workers", Some(operator), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["busy"].clone(), r.body["idle"].clone()),
        (json!(1), json!(1))
    );
    let busy = r.body["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["state"] == "busy")
        .unwrap();
    assert_eq!(busy["id"], "cutroom-worker-test-1");
    assert_eq!(busy["current_job"]["id"], job.to_string());

    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = r.body.as_str().unwrap();
    for line in [
        "cutroom_jobs{status=\"queued\"} 1",
        "cutroom_jobs{status=\"succeeded\"} 0",
        "cutroom_queue_depth{state=\"dispatched\"} 1",
        "cutroom_queue_depth{state=\"waiting_for_slot\"} 0",
        "cutroom_workers{state=\"busy\"} 1",
        "cutroom_workers{state=\"idle\"} 1",
        "cutroom_stage_duration_seconds_sum{stage=\"transcribe\"} 1.5",
        "cutroom_stage_duration_seconds_count{stage=\"transcribe\"} 1",
        "cutroom_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 1",
        "cutroom_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/admin/workers\",status=\"200\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // A route template, never a raw path with ids.
    assert!(!text.contains(&job.to_string()), "{text}");
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
async fn upload_names_never_leave_the_tenant_prefix() {
    let t = TestApp::new().await;
    let token = t.signup("names@example.org").await;
    let me = t.call(Method::GET, "/v1/me", Some(&token), None).await;
    let tenant = me.body["tenant"]["id"]
        .as_str()
        .or_else(|| me.body["tenant_id"].as_str())
        .unwrap_or_else(|| panic!("tenant id in {}", me.body))
        .to_owned();
    for name in [
        "../../../etc/passwd",
        "..\\..\\windows\\system.ini",
        "/abs/path/talk.mp4",
        "a/../../b.mp4",
        "%2e%2e%2f%2e%2e%2fx.mp4",
        "..",
        "talk.mp4\0.exe",
    ] {
        let create = json!({"filename": name, "content_type": "video/mp4", "size_bytes": 10});
        let up = t
            .call(Method::POST, "/v1/uploads", Some(&token), Some(create))
            .await;
        if up.status == StatusCode::UNPROCESSABLE_ENTITY {
            continue;
        }
        assert_eq!(up.status, StatusCode::CREATED, "{name}: {}", up.body);
        let id = up.body["upload_id"].as_str().unwrap();
        let url = url::Url::parse(up.body["url"].as_str().unwrap()).unwrap();
        let key = url.path().strip_prefix("/storage/").unwrap();
        let prefix = format!("uploads/{tenant}/{id}/");
        assert!(key.starts_with(&prefix), "{name}: {key}");
        let last = &key[prefix.len()..];
        assert!(
            !last.is_empty() && !last.contains(['/', '\\']) && !last.starts_with('.'),
            "{name}: {key}"
        );
        assert!(!key.contains(".."), "{name}: {key}");
    }
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

/// The web app's build folder is served on the API's origin: hashed
/// assets for a year, `index.html` revalidated, page addresses falling
/// back to it; API paths and non-HTML requests keep the API's 404.
#[tokio::test]
async fn the_web_app_is_served_beside_the_api() {
    let web = tempfile::tempdir().unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    std::fs::write(web.path().join("assets/index-abc123.js"), "console.log(1)").unwrap();
    std::fs::write(web.path().join("favicon.svg"), "<svg/>").unwrap();
    let dir = web.path().to_owned();
    let t = TestApp::with_config(move |c| c.web_dir = Some(dir)).await;
    let get = |uri: &str, accept: &str| {
        let req = Request::get(uri)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        t.send(req)
    };
    let header_of = |r: &Reply, name: header::HeaderName| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    let index = get("/", html).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.body, "<!doctype html><title>app</title>");
    assert_eq!(header_of(&index, header::CACHE_CONTROL), "no-cache");
    assert!(header_of(&index, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));

    let asset = get("/assets/index-abc123.js", "*/*").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        header_of(&asset, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(header_of(&asset, header::CONTENT_TYPE).contains("javascript"));
    let missing = get("/assets/index-gone.js", "*/*").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(header_of(&missing, header::CACHE_CONTROL), "");

    let icon = get("/favicon.svg", "image/*").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(
        header_of(&icon, header::CACHE_CONTROL),
        "public, max-age=3600"
    );

    // The app's own addresses, opened or reloaded in a browser.
    for page in [
        "/jobs",
        "/jobs/019a0000-0000-7000-8000-000000000000",
        "/settings/keys",
    ] {
        let r = get(page, html).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert_eq!(r.body, "<!doctype html><title>app</title>", "{page}");
    }
    // Not for programs, not for API paths, not outside the folder.
    assert_problem(
        &get("/jobs", "application/json").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &get("/v1/nothing", html).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let escape = get("/..%2Fsecret.key", html).await;
    assert_ne!(escape.body, "", "{:?}", escape.status);
    assert!(
        !escape.body.to_string().contains("secret"),
        "{}",
        escape.body
    );
    let post = t
        .send(
            Request::post("/jobs")
                .header(header::ACCEPT, html)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&post, StatusCode::NOT_FOUND, "not_found");

    // Without a build, `/` says how to get one and still points at the API.
    let bare = TestApp::new().await;
    let page = bare
        .send(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.body.as_str().unwrap();
    assert!(text.contains("The web app is not built"), "{text}");
    assert!(text.contains("/docs"), "{text}");
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

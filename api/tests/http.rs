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

/// The operator's routes and the metrics.
#[path = "http/admin.rs"]
mod admin;
/// The server's limits on connections, over real sockets.
#[path = "http/connections.rs"]
mod connections;
/// API keys, forged access tokens and per-credential rate limits.
#[path = "http/credentials.rs"]
mod credentials;
/// The attacks of issue 21, each as the request that got in.
#[path = "http/hardening.rs"]
mod hardening;
/// Creating, listing and cancelling jobs.
#[path = "http/jobs.rs"]
mod jobs;
/// The tenant's logo for audiograms.
#[path = "http/logo.rs"]
mod logo;
/// Invitations, roles and the tenant's members.
#[path = "http/members.rs"]
mod members;
/// Bad requests, health and the OpenAPI document.
#[path = "http/problems.rs"]
mod problems;
/// Sign-up, login, refresh tokens and browser sessions.
#[path = "http/sessions.rs"]
mod sessions;
/// The tenant's settings and its LLM endpoints.
#[path = "http/settings.rs"]
mod settings;
/// Uploads through local storage.
#[path = "http/uploads.rs"]
mod uploads;
/// The web app served beside the API.
#[path = "http/web.rs"]
mod web;

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
        self.app.housekeeper()
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

//! The test harness: a real Cutroom (HTTP on a real socket, SQLite or a
//! PostgreSQL database of its own, local storage or a real S3-compatible
//! server of its own) per test, plus helpers to talk to it like a client.
//!
//! External programs are found through environment variables that
//! `.ci/env.sh` sets (`CUTROOM_YTDLP`, `CUTROOM_TEST_S3S_FS`,
//! `CUTROOM_TEST_DATABASE_URL`), with the same defaults as that file, so
//! `cargo test` works the same after `bash .ci/setup --test`.

pub mod archive;
pub mod compose;
pub mod fleet;
pub mod media;
mod postgres;
mod s3;
mod source_server;
mod throttle;
pub mod webhooks;

use std::{path::PathBuf, sync::Arc, time::Duration};

use cutroom_api::App;
use cutroom_core::{
    Config,
    config::{S3Config, StorageConfig},
    housekeeping::Housekeeper,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use postgres::{PostgresServer, TestDatabase, proc_stat};
pub use s3::S3Server;
pub use source_server::SourceServer;
pub use throttle::ThrottledProxy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Local,
    S3,
}

fn cache_dir() -> PathBuf {
    std::env::var_os("CUTROOM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/cutroom")
        })
}

/// yt-dlp as installed by `.ci/setup`.
pub fn ytdlp_path() -> PathBuf {
    std::env::var_os("CUTROOM_YTDLP")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv/bin/yt-dlp"))
}

/// The model folder filled by `bash .ci/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("CUTROOM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("models"))
}

/// Test speech fetched by `bash .ci/setup --test` (jfk.wav).
pub fn test_data_dir() -> PathBuf {
    std::env::var_os("CUTROOM_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("testdata"))
}

/// A change to the test configuration, applied just before the app starts.
type ConfigTweak = Box<dyn FnOnce(&mut Config)>;

pub struct TestAppBuilder {
    db: Db,
    store: Store,
    worker: bool,
    tweaks: Vec<ConfigTweak>,
    /// Another app's database and storage, to run a second API replica.
    shared: Option<(String, cutroom_core::config::StorageConfig)>,
}

impl TestAppBuilder {
    pub fn store(mut self, store: Store) -> Self {
        self.store = store;
        self
    }

    /// Runs on the database at `url` (a [`PostgresServer`] of the test's
    /// own, say) instead of a fresh one on the shared server.
    pub fn database(self, url: String) -> Self {
        self.configure(move |c| c.database_url = url)
    }

    /// A second API replica of `other`: the same database and storage (and
    /// secret), its own HTTP server, sweeper and webhook sender. `other`
    /// owns the database and storage and must outlive this one.
    pub fn share(mut self, other: &TestApp) -> Self {
        self.shared = Some((
            other.app.config.database_url.clone(),
            other.app.config.storage.clone(),
        ));
        self
    }

    /// Without the in-process worker jobs stay queued (for queue-side tests).
    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    /// Accepts the loopback [`SourceServer`] as a video host.
    pub fn allow_source(self, source: &SourceServer) -> Self {
        let host = source.host.clone();
        self.configure(move |c| {
            c.extra_source_hosts.insert(host);
        })
    }

    pub fn configure(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.tweaks.push(Box::new(f));
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut config =
            Config::for_data_dir(dir.path(), SecretString::from("test-secret-".repeat(4)));
        config.listen = addr;
        config.public_url = format!("http://{addr}");
        config.in_process_worker = self.worker;
        config.ytdlp_path = ytdlp_path();
        config.ytdlp_timeout = Duration::from_secs(60);
        config.models_dir = models_dir();
        config.whisper_threads = 2;
        // The tests poll jobs ten times a second; limits have their own test.
        config.rate_limit_per_minute = 0;
        // Every test signs up and logs in from 127.0.0.1, many at once.
        config.guards = config.guards.without_auth_limits();

        let pg = match self.db {
            _ if self.shared.is_some() => None,
            Db::Sqlite => None,
            Db::Postgres => {
                let db = TestDatabase::create().await;
                config.database_url = db.url.clone();
                Some(db)
            }
        };
        let s3 = match self.store {
            _ if self.shared.is_some() => None,
            Store::Local => None,
            Store::S3 => {
                let server = S3Server::start();
                let s3 = S3Config {
                    bucket: "cutroom".into(),
                    region: "us-east-1".into(),
                    endpoint: Some(server.endpoint.clone()),
                    public_endpoint: None,
                    access_key_id: server.access_key.clone(),
                    secret_access_key: server.secret_key.clone().into(),
                    force_path_style: true,
                    part_size: S3Config::DEFAULT_PART_SIZE,
                    max_attempts: S3Config::DEFAULT_MAX_ATTEMPTS,
                };
                cutroom_core::storage::S3Store::new(&s3)
                    .await
                    .expect("s3 client")
                    .ensure_bucket()
                    .await
                    .expect("create bucket");
                config.storage = StorageConfig::S3(s3);
                Some(server)
            }
        };
        if let Some((database_url, storage)) = self.shared {
            config.database_url = database_url;
            config.storage = storage;
        }
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let app = App::new(config).await.expect("app starts");
        // As `cutroom serve` in the embedded default: the schema first,
        // then the API and (unless `without_worker`) a worker beside it.
        cutroom_migration::up(&app.db).await.expect("migrations");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(cutroom_api::serve(app.clone(), listener, shutdown.clone()));
        let housekeeper = app.housekeeper();
        let housekeeping = tokio::spawn(housekeeper.clone().run(shutdown.child_token()));
        let worker = app.config.in_process_worker.then(|| {
            let worker =
                cutroom_worker::Worker::new(app.config.clone(), app.db.clone(), app.store.clone());
            tokio::spawn(worker.run(shutdown.child_token()))
        });
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            app,
            dir,
            shutdown,
            server: Some(server),
            housekeeper,
            housekeeping: Some(housekeeping),
            worker,
            s3,
            _pg: pg,
        }
    }
}

/// One running Cutroom. Dropping it stops the server and removes its data.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub app: Arc<App>,
    pub dir: tempfile::TempDir,
    pub s3: Option<S3Server>,
    /// The fleet's housekeeping, running beside the server as `cutroom
    /// serve` runs it; call its rounds directly to sweep at a chosen time.
    pub housekeeper: Arc<Housekeeper>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    housekeeping: Option<tokio::task::JoinHandle<()>>,
    worker: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _pg: Option<TestDatabase>,
}

/// What a signup or login hands back, kept for later requests.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
}

impl TestApp {
    pub fn builder(db: Db) -> TestAppBuilder {
        TestAppBuilder {
            db,
            store: Store::Local,
            worker: true,
            tweaks: Vec::new(),
            shared: None,
        }
    }

    pub async fn start(db: Db) -> TestApp {
        Self::builder(db).start().await
    }

    /// Stops this process as SIGTERM stops `cutroom serve`: the HTTP
    /// server, its housekeeping and its worker, if any. The database and
    /// the store stay, for other processes (the fleet tests' workers).
    pub async fn stop_serving(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.server.take() {
            h.await
                .expect("the server panicked")
                .expect("the server failed");
        }
        if let Some(h) = self.housekeeping.take() {
            h.await.expect("housekeeping panicked");
        }
        if let Some(h) = self.worker.take() {
            h.await
                .expect("the worker panicked")
                .expect("the worker failed");
        }
    }

    pub fn scratch_dir(&self) -> PathBuf {
        self.app.config.scratch_dir.clone()
    }

    /// Sends a request; the body is JSON when given. Returns status and JSON
    /// body (`Null` when empty, `{"_text": ...}` when not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        json_request(
            &self.client,
            &format!("{}{path}", self.base),
            method,
            token,
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a tenant with its owner.
    pub async fn signup(&self, email: &str, tenant_name: &str) -> Session {
        let (status, body) = self
            .request(
                Method::POST,
                "/v1/auth/signup",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "name": "Test User", "tenant_name": tenant_name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup: {body}");
        session_from(email, &body)
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Polls the job until it reaches a terminal state (or panics after `limit`).
    pub async fn wait_for_job(&self, token: &str, job_id: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (status, job) = self.get(&format!("/v1/jobs/{job_id}"), token).await;
            assert_eq!(status, StatusCode::OK, "job lookup: {job}");
            if matches!(
                job["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job did not finish in {limit:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `status` events of an ended job, `(message, data)`, oldest
    /// first. The ending's event is written just after the job's status,
    /// so a client that saw the status may ask a moment before it is
    /// there: this waits (up to 10 s) until the last one is an ending.
    pub async fn status_events(&self, token: &str, job_id: &str) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, history) = self.get(&format!("/v1/jobs/{job_id}/events"), token).await;
            assert_eq!(status, StatusCode::OK, "{history}");
            let events: Vec<(String, Value)> = history
                .as_array()
                .expect("a list of events")
                .iter()
                .filter(|e| e["kind"] == "status")
                .map(|e| {
                    (
                        e["message"].as_str().unwrap_or_default().to_owned(),
                        e["data"].clone(),
                    )
                })
                .collect();
            let ended = events
                .last()
                .is_some_and(|(m, _)| matches!(m.as_str(), "succeeded" | "failed" | "cancelled"));
            if ended || tokio::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads `bytes` through the presigned-URL flow and returns the upload id.
    pub async fn upload(
        &self,
        token: &str,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> String {
        let (status, up) = self
            .post(
                "/v1/uploads",
                token,
                json!({"filename": filename, "content_type": content_type, "size_bytes": bytes.len()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create upload: {up}");
        let status = self.put_presigned(&up, bytes).await;
        assert!(status.is_success(), "presigned PUT answered {status}");
        up["upload_id"].as_str().expect("upload_id").to_owned()
    }

    /// PUTs to a presigned URL exactly as a client would (headers from the response).
    pub async fn put_presigned(&self, upload: &Value, bytes: Vec<u8>) -> StatusCode {
        let mut req = self.client.put(upload["url"].as_str().expect("url"));
        for (k, v) in upload["headers"].as_object().expect("headers") {
            req = req.header(k, v.as_str().unwrap());
        }
        req.body(bytes).send().await.expect("PUT sent").status()
    }

    /// Sends `bytes` to an upload target's parts (`target["multipart"]`),
    /// last part first, as a client may; returns the `parts` list that
    /// completes the upload.
    pub async fn put_parts(&self, target: &Value, bytes: &[u8]) -> Vec<Value> {
        let multipart = &target["multipart"];
        let part_size = multipart["part_size"].as_u64().expect("part_size") as usize;
        let mut parts = Vec::new();
        for part in multipart["parts"].as_array().expect("parts").iter().rev() {
            let number = part["part_number"].as_u64().expect("part_number") as usize;
            let start = (number - 1) * part_size;
            let end = (start + part_size).min(bytes.len());
            let (status, etag) = self.put_part(part, bytes[start..end].to_vec()).await;
            assert!(status.is_success(), "part {number}: {status}");
            parts.push(serde_json::json!({"part_number": number, "etag": etag.expect("an ETag")}));
        }
        parts.reverse();
        parts
    }

    /// Sends one part to its presigned URL; returns the status and the
    /// `ETag` answered.
    pub async fn put_part(&self, part: &Value, bytes: Vec<u8>) -> (StatusCode, Option<String>) {
        let mut req = self.client.put(part["url"].as_str().expect("url"));
        for (k, v) in part["headers"].as_object().expect("headers") {
            req = req.header(k, v.as_str().unwrap());
        }
        let res = req.body(bytes).send().await.expect("PUT sent");
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (res.status(), etag)
    }

    /// Keys under `prefix` in the app's object store.
    pub async fn stored_keys(&self, prefix: &str) -> Vec<String> {
        self.app
            .store
            .list(prefix)
            .await
            .expect("list objects")
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Job folders left in the scratch folder (there should be none after a
    /// job). Each worker keeps its job folders in a folder of its own.
    pub fn scratch_entries(&self) -> Vec<String> {
        let entries = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
            std::fs::read_dir(dir)
                .map(|rd| rd.map(|e| e.unwrap().path()).collect())
                .unwrap_or_default()
        };
        entries(&self.scratch_dir())
            .into_iter()
            .flat_map(|worker| {
                if worker.is_dir() {
                    entries(&worker)
                } else {
                    vec![worker]
                }
            })
            .filter(|p| !p.ends_with(".lock"))
            .map(|p| p.display().to_string())
            .collect()
    }
}

pub fn session_from(email: &str, body: &Value) -> Session {
    let s = |v: &Value| {
        v.as_str()
            .unwrap_or_else(|| panic!("missing field in {body}"))
            .to_owned()
    };
    Session {
        access_token: s(&body["access_token"]),
        refresh_token: s(&body["refresh_token"]),
        tenant_id: s(&body["tenant_id"]),
        user_id: s(&body["user_id"]),
        email: email.to_owned(),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for h in [self.server.take(), self.worker.take()]
            .into_iter()
            .flatten()
        {
            h.abort();
        }
        if let Some(h) = self.housekeeping.take() {
            h.abort();
        }
    }
}

/// A unique e-mail address for a test.
/// One request to `url`, the body JSON when given. Returns status and
/// JSON body (`Null` when empty, `{"_text": ...}` when not JSON).
pub async fn json_request(
    client: &reqwest::Client,
    url: &str,
    method: Method,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = res.status();
    let text = res.text().await.expect("body read");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "_text": text }))
    };
    (status, value)
}

pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// `len` random-looking bytes (xorshift64): nothing along the way,
/// gzip included, can shrink or shortcut them.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Both databases for one test body: `both_dbs!(name, body_fn)` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_dbs {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(cutroom_tests::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(cutroom_tests::Db::Postgres).await
            }
        }
    };
}

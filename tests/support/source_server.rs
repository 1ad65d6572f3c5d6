//! A loopback HTTP server standing in for a video host: yt-dlp downloads
//! direct links from it with its generic extractor.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{body::Body, extract::Path as UrlPath, http::header, response::Response};
use futures::StreamExt;

use tower_http::services::ServeDir;

pub struct SourceServer {
    /// `ip:port`, to add to `extra_source_hosts`.
    pub host: String,
    dir: tempfile::TempDir,
    shutdown: tokio_util::sync::CancellationToken,
    flaky: Arc<Flaky>,
}

/// The state of `/flaky/{file}`: while `down`, every request answers 503
/// Service Unavailable (a host having an outage); `refused` counts them.
/// While `slow`, it serves at about 80 KB/s like `/slow/...`.
#[derive(Default)]
struct Flaky {
    down: AtomicBool,
    slow: AtomicBool,
    refused: AtomicUsize,
}

impl SourceServer {
    /// Serves a fresh, empty folder; put files in it with [`SourceServer::path`].
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// The same, listening on `ip` (the compose test: the host's address on
    /// Docker's bridge, which containers reach).
    pub async fn start_on(ip: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let slow_dir = dir.path().to_path_buf();
        let flaky_dir = dir.path().to_path_buf();
        let flaky = Arc::new(Flaky::default());
        let state = flaky.clone();
        let app = axum::Router::new()
            .route(
                "/slow/{file}",
                axum::routing::get(move |p| slow(slow_dir.clone(), p)),
            )
            .route(
                "/flaky/{file}",
                axum::routing::get(move |p| flaky_get(flaky_dir.clone(), state.clone(), p)),
            )
            .fallback_service(ServeDir::new(dir.path()));
        let token = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .unwrap();
        });
        Self {
            host,
            dir,
            shutdown,
            flaky,
        }
    }

    /// Takes `/flaky/...` down (503 to every request) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.flaky.down.store(down, Ordering::SeqCst);
    }

    /// Makes `/flaky/...` serve at about 80 KB/s, or at full speed again.
    pub fn set_slow(&self, slow: bool) {
        self.flaky.slow.store(slow, Ordering::SeqCst);
    }

    /// Requests `/flaky/...` refused so far.
    pub fn refused(&self) -> usize {
        self.flaky.refused.load(Ordering::SeqCst)
    }

    /// Where a file served as `file` lives.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn url(&self, file: &str) -> String {
        format!("http://{}/{file}", self.host)
    }
}

impl Drop for SourceServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn flaky_get(dir: PathBuf, flaky: Arc<Flaky>, UrlPath(file): UrlPath<String>) -> Response {
    if flaky.down.load(Ordering::SeqCst) {
        flaky.refused.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(axum::http::StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("down for maintenance"))
            .unwrap();
    }
    if flaky.slow.load(Ordering::SeqCst) {
        return slow(dir, UrlPath(file)).await;
    }
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, "video/mp4")
            .body(Body::from(bytes))
            .unwrap(),
        Err(_) => Response::builder()
            .status(axum::http::StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap(),
    }
}

/// Serves a file at about 80 KB/s, so a download is still running when a
/// test acts on it (cancellation).
async fn slow(dir: PathBuf, UrlPath(file): UrlPath<String>) -> Response {
    let bytes = tokio::fs::read(dir.join(&file)).await.unwrap_or_default();
    let len = bytes.len();
    let chunks: Vec<bytes::Bytes> = bytes
        .chunks(16 * 1024)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, std::io::Error>(c)
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(stream))
        .unwrap()
}

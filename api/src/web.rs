//! The browser app (`frontend/`, built by Vite into `CUTROOM_WEB_DIR`),
//! served on the API's own origin so its session cookie and API calls stay
//! same-site, with nothing fetched from elsewhere (it works offline).
//!
//! Caching: Vite names every file under `assets/` by its content hash, so
//! those are immutable for a year; `index.html` names the current ones and
//! is revalidated on every load, so a new build is picked up at once.
//! Other paths that a browser navigates to (`/jobs/…`, `/settings`) get
//! `index.html` too: the app routes them itself.

use std::path::{Component, Path, PathBuf};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, Request, header},
    response::{Html, IntoResponse, Response},
};
use tower_http::services::ServeDir;

/// Shown at `/` when the web app is not built.
const API_PAGE: &str = include_str!("api_page.html");

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// Files at the app's root (`favicon.svg`): unhashed, so kept briefly.
const ROOT_FILE: &str = "public, max-age=3600";

/// The app's scripts and styles come from this origin only, and no inline
/// script runs: an injected `<script>` in user content cannot execute.
/// Media, thumbnails and uploads may use another origin (S3 presigned URLs).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; \
    connect-src 'self' http: https:; object-src 'none'; base-uri 'self'; \
    form-action 'self'; frame-ancestors 'none'";

/// The routes under `/assets`, from the build folder.
pub fn assets(web_dir: Option<&Path>) -> Option<Router> {
    let dir = web_dir?.join("assets");
    Some(
        Router::new()
            .fallback_service(ServeDir::new(dir))
            .layer(axum::middleware::map_response(
                |mut r: Response| async move {
                    if r.status().is_success() {
                        r.headers_mut()
                            .insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
                    }
                    r
                },
            )),
    )
}

/// `/`: the app's `index.html`, or the page about the API when the app is
/// not built.
pub async fn index(web_dir: Option<&Path>) -> Response {
    match read_index(web_dir).await {
        Some(html) => app_response(html, REVALIDATE),
        None => (
            [(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE))],
            Html(API_PAGE),
        )
            .into_response(),
    }
}

async fn read_index(web_dir: Option<&Path>) -> Option<Vec<u8>> {
    tokio::fs::read(web_dir?.join("index.html")).await.ok()
}

fn app_response(body: Vec<u8>, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Paths that belong to the API, never to the app.
fn is_api_path(path: &str) -> bool {
    ["/v1/", "/storage/", "/docs", "/openapi.json", "/assets/"]
        .iter()
        .any(|p| path.starts_with(p))
        || matches!(path, "/v1" | "/metrics" | "/healthz" | "/readyz")
}

/// What the router's fallback serves to a request no route matched: a
/// file at the app's root, the app for a page navigation, else `None` (the
/// API's own 404).
pub async fn fallback(
    web_dir: Option<&Path>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let web_dir = web_dir?;
    if !matches!(*method, Method::GET | Method::HEAD) || is_api_path(path) {
        return None;
    }
    if let Some(file) = root_file(web_dir, path) {
        return ServeDir::new(web_dir)
            .try_call(Request::get(format!("/{file}")).body(Body::empty()).ok()?)
            .await
            .ok()
            .map(|r| {
                let mut r = r.into_response();
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(ROOT_FILE));
                r
            });
    }
    if !wants_html(headers) {
        return None;
    }
    let html = read_index(Some(web_dir)).await?;
    Some(app_response(html, REVALIDATE))
}

/// A single-segment path naming a file in the build folder's root.
fn root_file(web_dir: &Path, path: &str) -> Option<String> {
    let name = path.strip_prefix('/')?;
    let mut parts = Path::new(name).components();
    let (Some(Component::Normal(n)), None) = (parts.next(), parts.next()) else {
        return None;
    };
    let n = n.to_str()?;
    let full: PathBuf = web_dir.join(n);
    (n != "index.html" && full.is_file()).then(|| n.to_owned())
}

/// A browser navigation asks for HTML; API clients and fetches do not.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

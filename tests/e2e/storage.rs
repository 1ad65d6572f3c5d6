//! The S3 client the worker publishes through: big files go up in parts,
//! and transient server errors are retried with backoff while permanent
//! ones are not.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::put,
};
use cutroom_core::{
    config::S3Config,
    storage::{ObjectStore, S3Store, StorageError},
};
use cutroom_tests::S3Server;
use sha2::{Digest, Sha256};

fn config(endpoint: String, key: &str, secret: &str, part_size: u64, attempts: u32) -> S3Config {
    S3Config {
        bucket: "cutroom".into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        public_endpoint: None,
        access_key_id: key.into(),
        secret_access_key: secret.to_owned().into(),
        force_path_style: true,
        part_size,
        max_attempts: attempts,
    }
}

#[tokio::test]
async fn a_file_bigger_than_a_part_goes_up_in_parts_and_comes_back_whole() {
    let server = S3Server::start();
    let store = S3Store::new(&config(
        server.endpoint.clone(),
        &server.access_key,
        &server.secret_key,
        S3Config::MIN_PART_SIZE,
        3,
    ))
    .await
    .unwrap();
    store.ensure_bucket().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Three parts: two full ones and a short last one, of bytes that
    // differ everywhere, so a part out of place would show.
    let size = 2 * S3Config::MIN_PART_SIZE + 12_345;
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.path().join("render.mp4");
    std::fs::write(&path, &bytes).unwrap();

    let key = "tenants/t/jobs/j/clips/01/vertical.mp4";
    store.put_file(key, &path, "video/mp4").await.unwrap();

    assert_eq!(store.head(key).await.unwrap().unwrap().size, size);
    let back = dir.path().join("back.mp4");
    assert_eq!(store.get_to_file(key, &back).await.unwrap(), size);
    assert_eq!(
        Sha256::digest(std::fs::read(&back).unwrap()),
        Sha256::digest(&bytes)
    );
    // One object, nothing left of the parts.
    let listed = store.list("tenants/").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");

    // A small file is one plain PUT, and lands the same way.
    let small = dir.path().join("captions.srt");
    std::fs::write(&small, "1\n00:00:00,000 --> 00:00:01,000\nhello\n").unwrap();
    store
        .put_file(
            "tenants/t/jobs/j/clips/01/captions.srt",
            &small,
            "application/x-subrip",
        )
        .await
        .unwrap();
    assert_eq!(store.list("tenants/").await.unwrap().len(), 2);
}

/// Clients may reach the store at another address than Cutroom does (a
/// compose network's `minio:9000` against the browser's `localhost:9000`):
/// presigned URLs carry the public endpoint and are signed for it.
#[tokio::test]
async fn presigned_urls_use_the_public_endpoint() {
    let server = S3Server::start();
    let mut c = config(
        server.endpoint.clone(),
        &server.access_key,
        &server.secret_key,
        S3Config::DEFAULT_PART_SIZE,
        3,
    );
    // The same server under another name, as a browser would reach it.
    let public = server.endpoint.replace("127.0.0.1", "localhost");
    assert_ne!(public, server.endpoint);
    c.public_endpoint = Some(public.clone());
    let store = S3Store::new(&c).await.unwrap();
    store.ensure_bucket().await.unwrap();

    let key = "uploads/t/u/talk.mp4";
    let body = b"not really a video".to_vec();
    let put = store
        .presign_put(key, "video/mp4", body.len() as u64, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(put.url.starts_with(&public), "{}", put.url);
    let client = reqwest::Client::new();
    let mut req = client.put(&put.url).body(body.clone());
    for (k, v) in &put.headers {
        req = req.header(k, v);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    // Cutroom itself still talks to the store at its own address.
    assert_eq!(
        store.head(key).await.unwrap().unwrap().size,
        body.len() as u64
    );

    let get = store
        .presign_get(key, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(get.url.starts_with(&public), "{}", get.url);
    let fetched = client.get(&get.url).send().await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), body.as_slice());
}

/// A stand-in S3 endpoint that answers the first `failures` PUTs with
/// `status` (S3's XML error body) and then accepts, counting every try.
struct Flaky {
    addr: SocketAddr,
    tries: Arc<AtomicUsize>,
    stored: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

#[derive(Clone)]
struct FlakyState {
    failures: usize,
    status: StatusCode,
    tries: Arc<AtomicUsize>,
    stored: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
}

async fn flaky_put(
    State(s): State<FlakyState>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let n = s.tries.fetch_add(1, Ordering::SeqCst);
    assert!(
        headers.contains_key("authorization"),
        "every try is signed again"
    );
    if n < s.failures {
        let code = if s.status == StatusCode::SERVICE_UNAVAILABLE {
            "SlowDown"
        } else {
            "AccessDenied"
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>{code}</Code><Message>try {n}</Message><RequestId>r{n}</RequestId></Error>"
        );
        return (s.status, [("content-type", "application/xml")], xml).into_response();
    }
    *s.stored.lock().unwrap() = Some(body.to_vec());
    (StatusCode::OK, [("etag", "\"0123\"")], "").into_response()
}

async fn flaky(failures: usize, status: StatusCode) -> Flaky {
    let tries = Arc::new(AtomicUsize::new(0));
    let stored = Arc::new(std::sync::Mutex::new(None));
    let app = Router::new()
        .route("/{bucket}/{*key}", put(flaky_put))
        .with_state(FlakyState {
            failures,
            status,
            tries: tries.clone(),
            stored: stored.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Flaky {
        addr,
        tries,
        stored,
    }
}

async fn put_through(server: &Flaky, attempts: u32) -> Result<(), StorageError> {
    let store = S3Store::new(&config(
        format!("http://{}", server.addr),
        "k",
        "s",
        S3Config::DEFAULT_PART_SIZE,
        attempts,
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analysis.json");
    std::fs::write(&path, b"{\"summary\": \"hello\"}").unwrap();
    store
        .put_file("tenants/t/jobs/j/analysis.json", &path, "application/json")
        .await
}

#[tokio::test]
async fn transient_errors_are_retried_and_permanent_ones_are_not() {
    // Two "slow down" answers, then success: three tries, the body intact.
    let server = flaky(2, StatusCode::SERVICE_UNAVAILABLE).await;
    put_through(&server, 5).await.unwrap();
    assert_eq!(server.tries.load(Ordering::SeqCst), 3);
    assert_eq!(
        server.stored.lock().unwrap().as_deref(),
        Some(&b"{\"summary\": \"hello\"}"[..])
    );

    // More failures than attempts: the error says what the server said.
    let server = flaky(10, StatusCode::SERVICE_UNAVAILABLE).await;
    let err = put_through(&server, 2).await.unwrap_err();
    assert_eq!(server.tries.load(Ordering::SeqCst), 2);
    assert!(err.to_string().contains("SlowDown"), "{err}");

    // Access denied is not going to change: one try.
    let server = flaky(10, StatusCode::FORBIDDEN).await;
    let err = put_through(&server, 5).await.unwrap_err();
    assert_eq!(server.tries.load(Ordering::SeqCst), 1);
    assert!(err.to_string().contains("AccessDenied"), "{err}");
}

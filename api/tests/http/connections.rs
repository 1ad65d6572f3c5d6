//! The server's own limits on connections, over real sockets: 200 idle or
//! trickling connections once stayed open for good, and nothing capped how
//! many were served at once.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

use super::*;

/// Long enough for any machine; the tests end as soon as the server acts.
const BOUND: Duration = Duration::from_secs(30);

struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    t: TestApp,
}

impl Served {
    async fn start(configure: impl FnOnce(&mut Config)) -> Self {
        let t = TestApp::with_config(configure).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(cutroom_api::serve(t.app.clone(), listener, stop.clone()));
        Self {
            addr,
            stop,
            server,
            t,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server.await.unwrap().unwrap();
    }
}

/// Reads until the server closes the connection; `None` if it does not
/// within [`BOUND`].
async fn until_closed(conn: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    // A reset ends the connection as well as a clean close does.
    let _ = tokio::time::timeout(BOUND, conn.read_to_end(&mut got))
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed() {
    let s = Served::start(|c| c.guards.header_timeout = Duration::from_secs(1)).await;

    // Connected, never a byte.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        until_closed(&mut idle).await.is_some(),
        "an idle connection stayed open"
    );

    // Half a request head, and no more.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        until_closed(&mut slow).await.is_some(),
        "a trickling connection stayed open"
    );

    // Kept alive after an answer, then silent.
    let mut kept = TcpStream::connect(s.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut kept)
        .await
        .expect("a kept-alive connection stayed open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let s = Served::start(|c| c.guards.max_connections = 2).await;
    let mut held = [
        TcpStream::connect(s.addr).await.unwrap(),
        TcpStream::connect(s.addr).await.unwrap(),
    ];
    // Both served: each answers.
    for conn in &mut held {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }

    let mut third = TcpStream::connect(s.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Not served while two are open (if it were, it would answer at once).
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.peek(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served past the cap");
    drop(held);
    let answer = until_closed(&mut third)
        .await
        .expect("served once a slot was free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.stop().await;
}

/// A request head in full, then a body that stops: once nothing bounded
/// how long the server waited for the rest, so a few hundred such
/// connections held every slot.
#[tokio::test]
async fn a_stalled_request_body_is_answered_and_closed() {
    let s = Served::start(|c| c.guards.body_timeout = Duration::from_secs(1)).await;
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(
            b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stalled)
        .await
        .expect("a connection with a stalled body stayed open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    s.stop().await;
}

/// The same for an upload to local storage: the stalled PUT is answered,
/// leaves no temporary file, and the URL takes the whole body afterwards.
#[tokio::test]
async fn a_stalled_upload_is_answered_and_can_be_sent_again() {
    use super::hardening::{new_upload, partials, put};
    let s = Served::start(|c| c.guards.body_timeout = Duration::from_secs(1)).await;
    let token = s.t.signup("stalled@example.org").await;
    let (_, path) = new_upload(&s.t, &token, 20).await;
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 20\r\n\r\n0123456789"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut stalled)
        .await
        .expect("an upload with a stalled body stayed open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"body_timeout\""), "{answer}");
    assert!(partials(&s.t, &path).is_empty());

    let again = s.t.send(put(&path, 20, Body::from(vec![7u8; 20]))).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    s.stop().await;
}

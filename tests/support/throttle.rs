//! A TCP proxy that can slow what clients send to a server to a crawl, so
//! a test can catch a worker in the middle of an upload (and kill it
//! there). Each connection is forwarded as is; while slow, the client's
//! bytes go through 16 KiB at a time with a pause between.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use cutroom_core::config::StorageConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::TestApp;

/// While slow: this many bytes per pause, about 64 KiB/s.
const CHUNK: usize = 16 * 1024;
const PAUSE: Duration = Duration::from_millis(250);

pub struct ThrottledProxy {
    pub addr: SocketAddr,
    slow: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl ThrottledProxy {
    /// Forwards connections on a fresh local port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let slow = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&slow);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = Arc::clone(&flag);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        forward(client, server, flag).await;
                    }
                });
            }
        });
        Self { addr, slow, task }
    }

    /// A proxy in front of `app`'s S3 server (an app built with
    /// `Store::S3`), for a worker's `CUTROOM_S3_ENDPOINT`.
    pub async fn in_front_of_s3(app: &TestApp) -> Self {
        let endpoint = match &app.app.config.storage {
            StorageConfig::S3(s3) => s3.endpoint.clone().expect("the test S3 server's endpoint"),
            StorageConfig::Local { .. } => {
                panic!("the app stores locally; build it with Store::S3")
            }
        };
        let target = endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("the test S3 endpoint is http://host:port");
        Self::start(target).await
    }

    pub fn set_slow(&self, slow: bool) {
        self.slow.store(slow, Ordering::SeqCst);
    }

    /// `http://` URL of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ThrottledProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, slow: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            if slow.load(Ordering::SeqCst) {
                tokio::time::sleep(PAUSE).await;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

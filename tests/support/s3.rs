//! A real S3-compatible server (s3s-fs) per test, on a free loopback port.
//! It checks SigV4 signatures and presigned-URL expiry like S3 does.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct S3Server {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub root: tempfile::TempDir,
    child: Child,
}

fn binary() -> PathBuf {
    std::env::var_os("CUTROOM_TEST_S3S_FS")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::cache_dir().join("tools/bin/s3s-fs"))
}

impl S3Server {
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        // Ask the OS for a free port, then hand it to the server.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (access_key, secret_key) =
            ("cutroom-test".to_owned(), "cutroom-test-secret".to_owned());
        let bin = binary();
        let child = Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                &access_key,
                "--secret-key",
                &secret_key,
            ])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); run `bash .ci/setup --test`",
                    bin.display()
                )
            });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        // Readiness is the port accepting connections.
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            endpoint: format!("http://{addr}"),
            access_key,
            secret_key,
            root,
            child,
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

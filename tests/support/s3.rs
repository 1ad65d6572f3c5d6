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
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = spawn(addr, &access_key, &secret_key, root.path());
        Self {
            endpoint: format!("http://{addr}"),
            access_key,
            secret_key,
            root,
            child,
        }
    }

    /// An outage: the server is killed; its objects stay on disk.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The end of the outage: the server again, on the same port and objects.
    pub fn restart(&mut self) {
        self.stop();
        let addr: SocketAddr = self
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("endpoint is host:port");
        self.child = spawn(addr, &self.access_key, &self.secret_key, self.root.path());
    }
}

fn spawn(addr: SocketAddr, access_key: &str, secret_key: &str, root: &std::path::Path) -> Child {
    let bin = binary();
    let child = Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &addr.port().to_string(),
            "--access-key",
            access_key,
            "--secret-key",
            secret_key,
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({e}); run `bash .ci/setup --test`",
                bin.display()
            )
        });
    let started = Instant::now();
    // Readiness is the port accepting connections.
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "s3s-fs did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

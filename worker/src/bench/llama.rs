//! A real llama.cpp `llama-server` with the small SmolLM2 model, for the
//! tests and the benchmark of the `openai` analysis provider. `.ci/setup
//! --test` builds the server and fetches the model; `.ci/env.sh` says where.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// The model file in `CUTROOM_TEST_DATA`.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// What the server calls its model (llama-server serves whatever it loaded).
pub const SMOLLM2: &str = "smollm2-135m-instruct";

/// Stopped (killed) when dropped.
pub struct LlamaServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Starts the server with `slots` requests served in parallel (each
    /// with `context` tokens) on `threads` threads, and waits until it has
    /// loaded the model.
    pub fn start(slots: u32, context: u32, threads: u32) -> anyhow::Result<Self> {
        let data = std::env::var_os("CUTROOM_TEST_DATA")
            .context("CUTROOM_TEST_DATA is not set: source .ci/env.sh")?;
        let model = PathBuf::from(data).join(SMOLLM2_GGUF);
        if !model.is_file() {
            bail!(
                "{} is missing: run `bash .ci/setup --test`",
                model.display()
            );
        }
        Self::start_on(&model, SMOLLM2, slots, context, threads)
    }

    /// The same with another GGUF `model`, served as `alias`.
    pub fn start_on(
        model: &std::path::Path,
        alias: &str,
        slots: u32,
        context: u32,
        threads: u32,
    ) -> anyhow::Result<Self> {
        let binary = std::env::var_os("CUTROOM_TEST_LLAMA_SERVER").context(
            "CUTROOM_TEST_LLAMA_SERVER is not set: run `bash .ci/setup --test` and source .ci/env.sh",
        )?;
        // A free port: the OS picks one, the server takes it over.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("llama-server.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(&binary)
            .arg("--model")
            .arg(model)
            .args(["--alias", alias, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(["--parallel", &slots.to_string()])
            .args(["--ctx-size", &(context * slots).to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", PathBuf::from(&binary).display()))?;
        let mut server = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server has logged so far, for a failing test to show.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "llama-server exited ({status}) while starting:\n{}",
                    self.log()
                );
            }
            // `/health` answers 503 while the model loads, 200 once ready.
            if health(self.port).is_some_and(|code| code == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "llama-server was not ready within two minutes:\n{}",
            self.log()
        )
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET /health`, with a plain HTTP/1.0 request (the
/// async client would need a runtime here).
fn health(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

//! The `local` provider's model: a llama.cpp `llama-server` the worker
//! starts as its child (`CUTROOM_LLAMA_SERVER` with
//! `CUTROOM_LOCAL_LLM_MODEL`), or one the operator runs
//! (`CUTROOM_LOCAL_LLM_URL`, e.g. a compose service). Either way the
//! worker speaks the OpenAI-compatible chat completions API to it, on
//! loopback or the operator's network, with no key.
//!
//! A started server listens on a free loopback port, is killed when the
//! worker stops (the child is dropped with the worker's engines), and
//! must answer `/health` before the worker takes its first job: a worker
//! whose configured model does not load says why and does not start.

use std::{
    collections::VecDeque,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use cutroom_core::{
    Config,
    analysis::{DEFAULT_CHUNK_SECONDS, Provider, ResolvedEndpoint},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long a started server may take to load its model.
const READY_WITHIN: Duration = Duration::from_secs(180);
/// Lines of the server's output kept for an error message.
const KEPT_LINES: usize = 40;
/// Tokens of context per request slot.
const SLOT_CONTEXT: u32 = 4096;
/// Seconds one request may take: a small model on a few cores writes a
/// title in a second or two, but a busy machine is slower.
const REQUEST_TIMEOUT_SECONDS: u32 = 120;

pub(crate) struct LocalLlm {
    base_url: String,
    model: String,
    slots: u32,
    /// The started server; `None` for one the operator runs.
    child: Option<Mutex<Child>>,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl LocalLlm {
    /// The configured model, started and ready; `None` when none is set up.
    pub async fn start(config: &Config) -> anyhow::Result<Option<LocalLlm>> {
        let c = &config.local_llm;
        let model = c.model_name();
        if let Some(url) = &c.url {
            // The operator's server may start after the worker (compose):
            // a job that finds it down gets builtin's analysis and says why.
            let llm = LocalLlm {
                base_url: url.clone(),
                model,
                slots: c.slots,
                child: None,
                output: Arc::default(),
            };
            if let Err(e) = llm.health().await {
                tracing::warn!(url = %url, error = %e, "the local language model is not answering yet");
            }
            return Ok(Some(llm));
        }
        let (Some(server), Some(weights)) = (&c.server, &c.model) else {
            return Ok(None);
        };
        if !weights.is_file() {
            bail!(
                "CUTROOM_LOCAL_LLM_MODEL={} is not a file (a GGUF model; see the README's \
                 \"Local language model\")",
                weights.display()
            );
        }
        // A free port: the OS picks one, the server takes it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let threads = c.threads.unwrap_or(config.whisper_threads).max(1);
        let mut child = Command::new(server)
            .arg("--model")
            .arg(weights)
            .args(["--alias", &model, "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(["--parallel", &c.slots.to_string()])
            .args(["--ctx-size", &(SLOT_CONTEXT * c.slots).to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting CUTROOM_LLAMA_SERVER={} (llama.cpp's llama-server)",
                    server.display()
                )
            })?;
        let output: Arc<Mutex<VecDeque<String>>> = Arc::default();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(keep_lines(stream, Arc::clone(&output)));
        }
        let llm = LocalLlm {
            base_url: format!("http://127.0.0.1:{port}"),
            model,
            slots: c.slots,
            child: Some(Mutex::new(child)),
            output,
        };
        llm.wait_until_ready().await?;
        tracing::info!(model = %llm.model, url = %llm.base_url, threads, slots = c.slots, "local language model ready");
        Ok(Some(llm))
    }

    /// The endpoint jobs reach it at.
    pub fn endpoint(&self, chunk_seconds: Option<u32>) -> ResolvedEndpoint {
        ResolvedEndpoint {
            provider: Provider::Local,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            api_key: None,
            input_price: None,
            output_price: None,
            timeout_seconds: REQUEST_TIMEOUT_SECONDS,
            max_in_flight: self.slots,
            chunk_seconds: chunk_seconds.unwrap_or(DEFAULT_CHUNK_SECONDS),
        }
    }

    /// `host:port`, for the outbound guard to let through: the operator
    /// set this server up, so its address is not a tenant's probe.
    pub fn host(&self) -> String {
        self.base_url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned()
    }

    /// The last lines the started server wrote.
    pub fn output(&self) -> String {
        let lines = self.output.lock().expect("not poisoned");
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    async fn health(&self) -> anyhow::Result<()> {
        let status = reqwest::Client::new()
            .get(format!("{}/health", self.base_url))
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .status();
        if !status.is_success() {
            bail!("/health answered {status}");
        }
        Ok(())
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Some(child) = &self.child {
                let exited = child.lock().expect("not poisoned").try_wait()?;
                if let Some(status) = exited {
                    bail!(
                        "the local language model's server exited ({status}) while loading:\n{}",
                        self.output()
                    );
                }
            }
            // `/health` answers 503 while the model loads, 200 once ready.
            if self.health().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "the local language model's server was not ready within {} s:\n{}",
            READY_WITHIN.as_secs(),
            self.output()
        )
    }
}

/// Keeps the last [`KEPT_LINES`] lines of the server's output, and logs
/// them at debug level.
async fn keep_lines(stream: impl tokio::io::AsyncRead + Unpin, kept: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "cutroom::llama_server", "{line}");
        let mut kept = kept.lock().expect("not poisoned");
        if kept.len() == KEPT_LINES {
            kept.pop_front();
        }
        kept.push_back(line);
    }
}

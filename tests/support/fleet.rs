//! Worker processes of their own, for the fleet tests: each runs
//! `cutroom worker`'s run mode against a [`TestApp`]'s database, storage
//! and scratch folder, and can be killed outright (SIGKILL, as the kernel's
//! OOM killer or a lost machine would) or stopped gracefully (SIGTERM).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use cutroom_core::{Config, config::StorageConfig};
use secrecy::ExposeSecret;

use crate::TestApp;

pub struct WorkerProcess {
    child: Child,
    pub pid: u32,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

/// The `CUTROOM_*` variables that give a worker process `config`.
pub fn worker_env(config: &Config) -> Vec<(String, String)> {
    let path = |p: &Path| p.display().to_string();
    let mut env = vec![
        ("DATABASE_URL", config.database_url.clone()),
        ("SECRET_KEY", config.secret_key.expose_secret().to_owned()),
        ("DATA_DIR", path(&config.data_dir)),
        ("SCRATCH_DIR", path(&config.scratch_dir)),
        ("MODELS_DIR", path(&config.models_dir)),
        ("YTDLP", path(&config.ytdlp_path)),
        (
            "YTDLP_TIMEOUT_SECS",
            config.ytdlp_timeout.as_secs().to_string(),
        ),
        (
            "EXTRA_SOURCE_HOSTS",
            config
                .extra_source_hosts
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("WHISPER_THREADS", config.whisper_threads.to_string()),
        ("WHISPER_MODEL", config.whisper_model.clone()),
        ("TENANT_MAX_RUNNING", config.tenant_max_running.to_string()),
        ("JOB_MAX_ATTEMPTS", config.retries.max_attempts.to_string()),
        (
            "JOB_RETRY_BACKOFF_SECS",
            config.retries.backoff.as_secs().to_string(),
        ),
        (
            "WORKER_HEARTBEAT_SECS",
            config.worker_heartbeat.as_secs().to_string(),
        ),
    ];
    env.push(("WORKER_PREFETCH", config.worker_prefetch.to_string()));
    if let Some(n) = config.database_max_connections {
        env.push(("DATABASE_MAX_CONNECTIONS", n.to_string()));
    }
    if let Some(p) = config.queue_poll {
        env.push(("QUEUE_POLL_MS", p.as_millis().to_string()));
    }
    if let Some(q) = config.monthly_media_minutes {
        env.push(("MONTHLY_MEDIA_MINUTES", q.to_string()));
    }
    match &config.storage {
        StorageConfig::Local { root } => {
            env.push(("STORAGE", "local".into()));
            env.push(("STORAGE_DIR", path(root)));
        }
        StorageConfig::S3(s3) => {
            env.push(("STORAGE", "s3".into()));
            env.push(("S3_BUCKET", s3.bucket.clone()));
            env.push(("S3_REGION", s3.region.clone()));
            if let Some(e) = &s3.endpoint {
                env.push(("S3_ENDPOINT", e.clone()));
            }
            env.push(("S3_ACCESS_KEY_ID", s3.access_key_id.clone()));
            env.push((
                "S3_SECRET_ACCESS_KEY",
                s3.secret_access_key.expose_secret().to_owned(),
            ));
            env.push(("S3_FORCE_PATH_STYLE", s3.force_path_style.to_string()));
        }
    }
    env.into_iter()
        .map(|(k, v)| (format!("CUTROOM_{k}"), v))
        .collect()
}

impl WorkerProcess {
    /// Starts `bin` (the fleet worker binary) as a worker of `app`.
    pub fn spawn(bin: &str, app: &TestApp) -> Self {
        Self::spawn_with(bin, app, &[])
    }

    /// The same, with `CUTROOM_*` variables of its own (`("S3_ENDPOINT",
    /// proxy)`) over the app's.
    pub fn spawn_with(bin: &str, app: &TestApp, overrides: &[(&str, String)]) -> Self {
        Self::start(bin, app, &[], overrides)
    }

    /// A worker that runs the queue's whole path but no stages (the fleet
    /// binary's `--without-stages`): no models, no media.
    pub fn spawn_without_stages(bin: &str, app: &TestApp, overrides: &[(&str, String)]) -> Self {
        Self::start(bin, app, &["--without-stages"], overrides)
    }

    fn start(bin: &str, app: &TestApp, args: &[&str], overrides: &[(&str, String)]) -> Self {
        let log = app
            .dir
            .path()
            .join(format!("worker-{}.log", uuid::Uuid::new_v4().simple()));
        let out = std::fs::File::create(&log).expect("worker log");
        let child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(worker_env(&app.app.config))
            .envs(
                overrides
                    .iter()
                    .map(|(k, v)| (format!("CUTROOM_{k}"), v.clone())),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        WorkerProcess {
            pid: child.id(),
            child,
            log,
        }
    }

    /// SIGSTOP: the process stops where it is, connections open (the
    /// benchmarks fill the queue under stopped workers, then let them go).
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid).expect("pid"));
        nix::sys::signal::kill(pid, signal).expect("signal the worker");
    }

    /// CPU time the process has used so far.
    pub fn cpu_time(&self) -> Duration {
        crate::proc_stat(self.pid)
            .map(|f| Duration::from_millis((f[11] + f[12]) * 10))
            .unwrap_or_default()
    }

    /// SIGKILL: no clean-up of any kind runs in the worker.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the worker");
        self.child.wait().expect("reap the worker");
    }

    /// SIGTERM, then waits up to `grace` for the worker to stop; returns
    /// whether it exited successfully.
    pub async fn terminate(&mut self, grace: Duration) -> bool {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            if tokio::time::Instant::now() > deadline {
                self.kill();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of its log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

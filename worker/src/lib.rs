//! The pipeline worker: takes one job at a time from the queue, fetches its
//! source once, probes and decodes it once, runs the analysis stages and
//! publishes their outputs.
//!
//! [`Worker`] is the only entry point. The `cutroom-worker` binary runs one
//! per process; the API can run one in-process (the embedded default).
//! Scaling is more processes, never more jobs per process: a job holds a
//! whole decoded source in memory and saturates a core while decoding.

mod analysis;
mod engines;
mod handler;
mod media;
pub mod models;
mod onnx;
mod pipeline;
mod poll;
mod scratch;
mod text;
mod wer;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use apalis::prelude::{BackendExt, WorkerBuilder, WorkerBuilderExt};
use cutroom_core::{Config, Database, db::Pool, jobs::PIPELINE_QUEUE, storage::ObjectStore};
use tokio_util::sync::CancellationToken;

use crate::handler::{Handler, handle};

/// How often an idle worker asks SQLite for work. SQLite cannot notify
/// other processes, so this bounds the pickup latency; each poll is one
/// short write transaction.
const SQLITE_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// On PostgreSQL, LISTEN/NOTIFY wakes an idle worker as soon as a task is
/// committed; polling only covers a lost listener connection.
const POSTGRES_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Liveness: a worker silent for `HEARTBEAT * MISSED_HEARTBEATS` is presumed
/// dead and its task is handed to another worker.
const HEARTBEAT: Duration = Duration::from_secs(10);
const MISSED_HEARTBEATS: usize = 3;
/// Pause before restarting after the queue backend failed (database gone).
const RESTART_DELAY: Duration = Duration::from_secs(2);

/// One pipeline worker: exactly one job at a time.
pub struct Worker {
    config: Config,
    db: Database,
    store: Arc<dyn ObjectStore>,
    name: String,
    run_stages: bool,
}

impl Worker {
    pub fn new(config: Config, db: Database, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            config,
            db,
            store,
            name: worker_name(),
            run_stages: true,
        }
    }

    /// Runs everything but the stages: queue pickup, claim, events and the
    /// terminal state, with no fetch or decoding. For measuring the queue's
    /// own overhead (`cargo bench --bench queue`); never for serving jobs.
    pub fn without_stages(mut self) -> Self {
        self.run_stages = false;
        self
    }

    /// The name this worker registers under in the queue (unique per
    /// process and instance; several workers may share a process in tests).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes jobs until `shutdown` is cancelled. On shutdown no new job is
    /// taken; a running one is stopped, its scratch folder removed and its
    /// task handed back to the queue so another worker runs it again.
    ///
    /// Returns an error only when the worker cannot start at all; a queue
    /// failure later on (the database went away) is logged and the worker
    /// restarts after a short pause.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        media::init();
        // Models first: a worker that cannot run jobs must not take any.
        let engines = if self.run_stages {
            let config = self.config.clone();
            let engines = tokio::task::spawn_blocking(move || engines::Engines::open(&config))
                .await?
                .context("the worker cannot start")?;
            Some(Arc::new(engines))
        } else {
            None
        };
        let root = self.config.scratch_dir.clone();
        let slot = tokio::task::spawn_blocking(move || scratch::Slot::claim(&root))
            .await?
            .with_context(|| {
                format!(
                    "preparing the scratch folder {}",
                    self.config.scratch_dir.display()
                )
            })?;
        // Job folders go under this worker's own folder (see `scratch`).
        let mut config = self.config;
        config.scratch_dir = slot.path().to_owned();
        let handler = Arc::new(Handler::new(
            config,
            self.db.clone(),
            self.store,
            shutdown.clone(),
            engines,
        ));
        tracing::info!(worker = %self.name, "worker started");
        // A restarted apalis worker registers under a new name: the old
        // registration is still fresh and the queue refuses duplicate names.
        for incarnation in 0u32.. {
            let name = if incarnation == 0 {
                self.name.clone()
            } else {
                format!("{}-r{incarnation}", self.name)
            };
            let result = run_once(&self.db.pool, &name, handler.clone(), shutdown.clone()).await;
            if shutdown.is_cancelled() {
                break;
            }
            match result {
                Ok(()) => {
                    tracing::warn!(worker = %name, "queue worker ended unexpectedly; restarting")
                }
                Err(e) => {
                    tracing::error!(worker = %name, error = %e, "queue worker failed; restarting")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(RESTART_DELAY) => {}
            }
        }
        // The handler (and with it any job) is done; the folder can go.
        drop(handler);
        drop(slot);
        tracing::info!(worker = %self.name, "worker stopped");
        Ok(())
    }
}

/// Runs one apalis worker until shutdown or a backend error.
async fn run_once(
    pool: &Pool,
    name: &str,
    handler: Arc<Handler>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let signal = async move {
        shutdown.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    // The payload is decoded in the handler rather than by the backend: a
    // task apalis cannot decode stops the whole worker loop, while one the
    // handler cannot read is logged and dropped.
    match pool {
        Pool::Postgres(pool) => {
            let config = apalis_postgres::Config::default()
                .queue(PIPELINE_QUEUE)
                .batch_size(1)
                .heartbeat_interval(HEARTBEAT)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let backend = apalis_postgres::PostgresStorage::<serde_json::Value>::new(pool)
                .with_config(config)
                .with_pubsub()
                .poll_with_strategy(poll::Every::new(POSTGRES_POLL_INTERVAL));
            WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(1)
                .data(handler)
                .build(handle)
                .run_until(signal)
                .await?;
        }
        Pool::Sqlite(pool) => {
            let config = apalis_sqlite::Config::default()
                .queue(PIPELINE_QUEUE)
                .batch_size(1)
                .heartbeat_interval(HEARTBEAT)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let backend = apalis_sqlite::SqliteStorage::<serde_json::Value>::new(pool)
                .with_config(config)
                .poll_with_strategy(poll::Every::new(SQLITE_POLL_INTERVAL));
            WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(1)
                .data(handler)
                .build(handle)
                .run_until(signal)
                .await?;
        }
    }
    Ok(())
}

/// `cutroom-worker-{host}-{pid}-{random}`: readable in the queue tables and
/// unique even with several workers in one process.
fn worker_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| {
            h.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(40)
                .collect()
        })
        .filter(|h: &String| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "cutroom-worker-{host}-{}-{}",
        std::process::id(),
        &random[..8]
    )
}

/// Crate internals for the benchmarks (`worker/benches`); not an API.
#[doc(hidden)]
pub mod bench;

#[cfg(test)]
mod tests {
    #[test]
    fn worker_names_are_unique_and_tidy() {
        let (a, b) = (super::worker_name(), super::worker_name());
        assert_ne!(a, b);
        assert!(a.starts_with("cutroom-worker-"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
    }
}

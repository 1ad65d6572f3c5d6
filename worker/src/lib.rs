//! The pipeline worker: takes one job at a time from the queue, fetches its
//! source once, probes and decodes it once, runs the analysis stages and
//! publishes their outputs.
//!
//! [`Worker`] is the only entry point. `cutroom worker` runs one per
//! process; `cutroom serve` runs one beside the API in the embedded default.
//! Scaling is more processes, never more jobs per process: a job holds a
//! whole decoded source in memory and saturates a core while decoding.
//! With `CUTROOM_WORKER_PREFETCH=1` a worker claims one job ahead and
//! downloads its source while the current job computes; the second job
//! decodes only when the first is done (`Pipeline::compute_turn`).

mod analysis;
pub mod archive;
mod engines;
mod handler;
pub mod manifest;
mod media;
pub mod metadata;
pub mod models;
mod onnx;
mod pg_queue;
mod pipeline;
mod poll;
mod scratch;
mod text;

/// Tests that keep both cores busy for minutes with a ggml thread pool
/// (whisper.cpp on many sentences, llama-server) take turns: two spinning
/// pools on two cores starve each other (a llama-server test once timed
/// out at 1 token/s beside the spoken moderation test).
#[cfg(test)]
pub(crate) static CPU_HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
#[cfg(any(test, feature = "bench"))]
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
/// committed (`pg_queue`); polling only covers tasks that become due later
/// (a retry's backoff) and a listener between connections. At fleet size
/// every idle worker polls, so this stays long.
const POSTGRES_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Liveness: a worker silent for `CUTROOM_WORKER_HEARTBEAT_SECS *
/// MISSED_HEARTBEATS` is presumed dead and its task is handed to another
/// worker; the registry reads it `lost` after the same time.
const MISSED_HEARTBEATS: usize = cutroom_core::queries::workers::MISSED_HEARTBEATS as usize;
/// Every this many heartbeats a worker removes the scratch folders of
/// siblings that died.
const SCRATCH_SWEEP_BEATS: u32 = 6;
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
            let mut engines = tokio::task::spawn_blocking(move || engines::Engines::open(&config))
                .await?
                .context("the worker cannot start")?;
            engines.local_llm = analysis::local::LocalLlm::start(&self.config)
                .await
                .context("the worker cannot start its local language model")?;
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
        let slot = Arc::new(slot);
        // Job folders go under this worker's own folder (see `scratch`).
        let mut config = self.config;
        config.scratch_dir = slot.path().to_owned();
        let heartbeat = config.worker_heartbeat;
        let queue_poll = config.queue_poll;
        // One job computing, and with prefetch one more fetching its source.
        let in_flight = 1 + usize::from(config.worker_prefetch.min(1));
        registry::register(&self.db, &self.name)
            .await
            .context("registering the worker")?;
        let beats = CancellationToken::new();
        let beating = tokio::spawn(registry::beat(
            self.db.clone(),
            self.name.clone(),
            heartbeat,
            slot.clone(),
            beats.clone(),
        ));
        let handler = Arc::new(Handler::new(
            config,
            self.db.clone(),
            self.store,
            shutdown.clone(),
            engines,
            self.name.clone(),
        ));
        tracing::info!(
            worker = %self.name,
            host = %host_name(),
            pid = std::process::id(),
            "worker started"
        );
        // A restarted apalis worker registers under a new name: the old
        // registration is still fresh and the queue refuses duplicate names.
        for incarnation in 0u32.. {
            let name = if incarnation == 0 {
                self.name.clone()
            } else {
                format!("{}-r{incarnation}", self.name)
            };
            let result = run_once(
                &self.db.pool,
                &name,
                heartbeat,
                queue_poll,
                in_flight,
                handler.clone(),
                shutdown.clone(),
            )
            .await;
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
        beats.cancel();
        let _ = beating.await;
        drop(slot);
        if let Err(e) = cutroom_core::queries::workers::stopped(&self.db.orm, &self.name).await {
            tracing::warn!(error = %e, "could not sign off in the worker registry");
        }
        tracing::info!(worker = %self.name, "worker stopped");
        Ok(())
    }
}

/// A worker process (`cutroom worker`): one worker on `db`, and the
/// fleet's housekeeping ([`cutroom_core::housekeeping`]), until SIGTERM or
/// SIGINT (which stop it gracefully: the current job is handed back to the
/// queue). The schema is the caller's to check: a worker never migrates.
pub async fn run(config: Config, db: Database) -> anyhow::Result<()> {
    run_process(config, db, true).await
}

/// A worker process's whole life; `stages: false` runs the queue's path
/// without fetch or decoding ([`Worker::without_stages`]).
async fn run_process(config: Config, db: Database, stages: bool) -> anyhow::Result<()> {
    let storage = cutroom_core::storage::from_config(&config)
        .await
        .context("opening object storage")?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cutroom_core::signals::cancel_on_signal(shutdown.clone()));
    let housekeeper = cutroom_core::housekeeping::Housekeeper::new(
        config.clone(),
        db.clone(),
        storage.store.clone(),
        storage.local,
    );
    let housekeeping = tokio::spawn(housekeeper.run(shutdown.clone()));
    let mut worker = Worker::new(config, db, storage.store);
    if !stages {
        worker = worker.without_stages();
    }
    let worked = worker.run(shutdown.clone()).await;
    // A worker that could not start stops the housekeeping too.
    shutdown.cancel();
    housekeeping.await.context("housekeeping panicked")?;
    worked
}

/// [`run`] with configuration from `CUTROOM_*`, on a database already
/// migrated (the fleet tests' worker processes).
pub async fn run_from_env() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    let db = connect(&config).await?;
    run(config, db).await
}

/// [`run_from_env`] with no stages: the queue's whole path (pickup, claim,
/// events, terminal state, housekeeping) and nothing else, for measuring
/// the queue at fleet size with many processes (`--bench queue_fleet`).
pub async fn run_without_stages_from_env() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    let db = connect(&config).await?;
    run_process(config, db, false).await
}

/// A worker process's database: a small pool unless the operator set
/// one (`CUTROOM_DATABASE_MAX_CONNECTIONS`), so a fleet's connections grow
/// by a few per worker, not by the API's 32.
pub async fn connect(config: &Config) -> anyhow::Result<Database> {
    Database::connect_with(
        &config.database_url,
        config
            .database_max_connections
            .unwrap_or(cutroom_core::db::WORKER_POOL),
    )
    .await
}

/// Runs one apalis worker until shutdown or a backend error.
async fn run_once(
    pool: &Pool,
    name: &str,
    heartbeat: Duration,
    poll: Option<Duration>,
    in_flight: usize,
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
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let backend =
                pg_queue::PgQueue::new(pool, config, poll.unwrap_or(POSTGRES_POLL_INTERVAL));
            WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(in_flight)
                .data(handler)
                .build(handle)
                .run_until(signal)
                .await?;
        }
        Pool::Sqlite(pool) => {
            let config = apalis_sqlite::Config::default()
                .queue(PIPELINE_QUEUE)
                .batch_size(1)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let backend = apalis_sqlite::SqliteStorage::<serde_json::Value>::new(pool)
                .with_config(config)
                .poll_with_strategy(poll::Every::new(poll.unwrap_or(SQLITE_POLL_INTERVAL)));
            WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(in_flight)
                .data(handler)
                .build(handle)
                .run_until(signal)
                .await?;
        }
    }
    Ok(())
}

/// The worker's row in the registry (`GET /v1/admin/workers`).
mod registry {
    use std::{sync::Arc, time::Duration};

    use cutroom_core::{Database, queries::workers};
    use sea_orm::DbErr;
    use tokio_util::sync::CancellationToken;

    use crate::scratch::Slot;

    pub(crate) async fn register(db: &Database, name: &str) -> Result<(), DbErr> {
        workers::register(
            &db.orm,
            name,
            &super::host_name(),
            std::process::id(),
            env!("CARGO_PKG_VERSION"),
        )
        .await
    }

    /// Reports in every `every` until `stop`, and now and then removes
    /// the scratch folders of siblings that died.
    pub(crate) async fn beat(
        db: Database,
        name: String,
        every: Duration,
        slot: Arc<Slot>,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 1u32.. {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = workers::heartbeat(&db.orm, &name).await {
                tracing::warn!(error = %e, "could not report in to the worker registry");
            }
            if n % super::SCRATCH_SWEEP_BEATS == 0 {
                let slot = slot.clone();
                match tokio::task::spawn_blocking(move || slot.remove_dead_siblings()).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(removed)) => {
                        tracing::warn!(
                            count = removed,
                            "removed scratch folders of workers that died"
                        )
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "could not sweep the scratch folder"),
                    Err(e) => tracing::warn!(error = %e, "the scratch sweep panicked"),
                }
            }
        }
    }
}

/// The host name, tidied for names and the registry.
fn host_name() -> String {
    nix::unistd::gethostname()
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
        .unwrap_or_else(|| "host".to_owned())
}

/// `cutroom-worker-{random}`: unique even with several workers in one
/// process. The name is in every tenant's job events (`running`,
/// `handed_back`), so it says nothing about the machine: the registry
/// (`/v1/admin/workers`, operators only) maps it to host and pid.
fn worker_name() -> String {
    format!("cutroom-worker-{}", uuid::Uuid::new_v4().simple())
}

/// A stand-in for the cloud speech APIs, for tests (feature `bench`).
#[cfg(any(test, feature = "bench"))]
pub mod speech_standin;

/// Crate internals for the benchmarks (`worker/benches`) and the tests'
/// llama-server; not an API, and not in the binary (feature `bench`).
#[cfg(any(test, feature = "bench"))]
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

    /// Job events carried the name, and with it the worker's host name and
    /// process id, to every tenant.
    #[test]
    fn worker_names_tell_neither_host_nor_pid() {
        let name = super::worker_name();
        let rest = name.strip_prefix("cutroom-worker-").unwrap();
        assert!(
            uuid::Uuid::try_parse(rest).is_ok(),
            "{name} is more than a random id"
        );
    }
}

//! `cutroom-worker`: one pipeline worker process. Run more of them to
//! process more jobs at once (`docker compose up --scale worker=N`).

use anyhow::Context;
use cutroom_core::{Config, Database, storage, telemetry};
use cutroom_worker::Worker;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_json);
    let db = Database::connect(&config.database_url).await?;
    db.migrate().await?;
    let storage = storage::from_config(&config)
        .await
        .context("opening object storage")?;

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    Worker::new(config, db, storage.store).run(shutdown).await
}

/// SIGINT or SIGTERM (what `docker stop` sends) stops the worker: the job
/// in hand is handed back to the queue for another worker.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the worker");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; stopping"),
        () = term => tracing::info!("SIGTERM received; stopping"),
    }
    shutdown.cancel();
}

//! `cutroom serve`: the API and the fleet's housekeeping, and in the
//! embedded default a pipeline worker in the same process.

use std::sync::Arc;

use anyhow::Context;
use cutroom_api::App;
use cutroom_core::Config;
use tokio_util::sync::CancellationToken;

pub(crate) async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let listen = config.listen;
    let app = App::new(config).await?;
    if app.config.in_process_worker {
        // The embedded default is the whole deployment: it owns its schema.
        let applied = cutroom_migration::up(&app.db).await?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "migrations applied");
        }
    } else {
        cutroom_migration::ensure_current(&app.db).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        url = %format!("http://{addr}"),
        docs = %format!("http://{addr}/docs"),
        in_process_worker = app.config.in_process_worker,
        "Cutroom is listening"
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(cutroom_core::signals::cancel_on_signal(shutdown.clone()));
    // A child token: a failing worker stops the server without cancelling
    // the signal's token.
    let stop = shutdown.child_token();
    let housekeeping = tokio::spawn(app.housekeeper().run(stop.clone()));
    let worker = app
        .config
        .in_process_worker
        .then(|| spawn_worker(&app, stop.clone()));
    let served = cutroom_api::serve(app, listener, stop.clone()).await;
    stop.cancel();
    housekeeping.await.context("housekeeping panicked")?;
    if let Some(worker) = worker {
        worker
            .await
            .context("the in-process worker panicked")?
            .context("in-process worker")?;
    }
    served
}

/// The embedded default: a pipeline worker beside the API. A worker that
/// fails stops the server too, so a supervisor restarts the whole process.
fn spawn_worker(
    app: &Arc<App>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let worker = cutroom_worker::Worker::new(app.config.clone(), app.db.clone(), app.store.clone());
    tokio::spawn(async move {
        let result = worker.run(stop.clone()).await;
        if result.is_err() {
            // The error itself is returned from `serve`, and reported there.
            tracing::warn!("the in-process worker failed; shutting the server down");
            stop.cancel();
        }
        result
    })
}

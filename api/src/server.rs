//! Running the service: HTTP with graceful shutdown, the upload sweeper,
//! the webhook sender, and in the embedded default a pipeline worker in
//! the same process.

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{app::App, routes::router, sweeper, webhooks};

/// Serves until `shutdown` is cancelled (or the in-process worker fails),
/// then lets in-flight requests and the current job step finish.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // A child token: a failing worker stops this server without cancelling the caller's token.
    let stop = shutdown.child_token();
    let sweeper = tokio::spawn(sweeper::run(app.clone(), stop.clone()));
    let webhooks = tokio::spawn(webhooks::run(app.clone(), stop.clone()));
    let worker = app
        .config
        .in_process_worker
        .then(|| spawn_worker(&app, stop.clone()));

    // Each request carries its connection's peer address (`client`).
    let served = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await
        .context("serving HTTP");
    stop.cancel();
    tracing::info!("HTTP server stopped");

    let _ = sweeper.await;
    let _ = webhooks.await;
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
    // The API depends on the worker crate for this one call only; the
    // worker never depends on the API.
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

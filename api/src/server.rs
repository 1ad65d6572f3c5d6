//! Running the service: HTTP with graceful shutdown, the upload sweeper,
//! the webhook sender, and in the embedded default a pipeline worker in
//! the same process.

use std::{pin::pin, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

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

    serve_http(&app, listener, &stop).await;
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
    Ok(())
}

/// Accepts connections until `stop`, then waits for those open to finish
/// their requests. At most `max_connections` are served at once (the rest
/// wait in the listen backlog), and a connection that does not send a
/// whole request head in time, idle or trickling, is closed, as is one
/// whose body stops arriving (`config.guards`). HTTP/1 only: detecting HTTP/2 would read the first
/// bytes before any timeout runs, so a silent connection stayed forever.
async fn serve_http(app: &Arc<App>, listener: TcpListener, stop: &CancellationToken) {
    let guards = &app.config.guards;
    let router = router(app.clone());
    let slots = Arc::new(Semaphore::new(guards.max_connections));
    let connections = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(guards.header_timeout);
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Each request knows its connection's peer (`crate::client`), and
        // its body may not pause longer than `body_timeout`.
        let body_timeout = guards.body_timeout;
        let service = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(|body| Body::new(TimeoutBody::new(body_timeout, body)))
            });
        let builder = builder.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let io = TokioIo::new(stream);
            let mut conn = pin!(builder.serve_connection(io, TowerToHyperService::new(service)));
            let served = tokio::select! {
                served = conn.as_mut() => served,
                () = stop.cancelled() => {
                    // Ends the connection after the request in flight, if any.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
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

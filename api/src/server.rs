//! Running the HTTP service, with graceful shutdown, and forgetting the
//! process's own counters of idle clients. (Housekeeping that concerns the
//! whole fleet, `cutroom_core::housekeeping`, and the pipeline worker of the
//! embedded default are started beside it by the `cutroom` binary.)

use std::{pin::pin, sync::Arc, time::Duration};

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

use crate::{app::App, routes::router};

/// Serves until `shutdown` is cancelled, then lets in-flight requests
/// finish.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // A child token: the forgetting stops with the server, also when the
    // server stops on its own.
    let stop = shutdown.child_token();
    let forgetting = tokio::spawn(forget_idle(app.clone(), stop.clone()));

    serve_http(&app, listener, &stop).await;
    stop.cancel();
    tracing::info!("HTTP server stopped");

    let _ = forgetting.await;
    Ok(())
}

/// The rate limiter's and the sign-in guard's counters live in this
/// process; those of clients gone quiet are dropped every sweep interval.
async fn forget_idle(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(app.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Some(limiter) = &app.limiter {
            limiter.forget_idle();
        }
        app.auth_guard.forget_idle();
    }
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

//! `cutroom`: the API server (`serve`, the default) and `openapi`, which
//! prints the OpenAPI document.

use std::io::Write;

use anyhow::{Context, bail};
use cutroom_core::Config;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: cutroom [serve | openapi]\n\n  serve    run the API (and, unless CUTROOM_IN_PROCESS_WORKER=false, a worker); the default\n  openapi  print the OpenAPI document as JSON\n\nConfiguration comes from CUTROOM_* environment variables (see README.md).\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve().await,
        ["openapi"] => {
            let mut json = cutroom_api::openapi()
                .to_pretty_json()
                .context("rendering the OpenAPI document")?;
            json.push('\n');
            std::io::stdout().write_all(json.as_bytes())?;
            Ok(())
        }
        ["help" | "-h" | "--help"] => {
            std::io::stdout().write_all(USAGE.as_bytes())?;
            Ok(())
        }
        other => {
            std::io::stderr().write_all(USAGE.as_bytes())?;
            bail!("unknown arguments: {}", other.join(" "))
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let listen = config.listen;
    let app = cutroom_api::App::new(config).await?;
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
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    cutroom_api::serve(app, listener, shutdown).await
}

/// SIGINT (Ctrl-C) or SIGTERM (docker stop, systemd) start a graceful shutdown.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}

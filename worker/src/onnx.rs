//! ONNX Runtime, loaded at run time from the model folder.
//!
//! The library comes from PyPI's `onnxruntime` wheel (see `models`), so the
//! build needs no binaries; ort's `load-dynamic` feature opens it. ONNX
//! Runtime allows one environment per process, so it is created once and
//! shared by every worker (tests run several in one process).

use std::{path::Path, sync::OnceLock};

use anyhow::{Context, anyhow};
use ort::{
    environment::Environment,
    session::{Session, builder::GraphOptimizationLevel},
};

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// The process's environment, loading the library at `library` on first use.
/// A later call with another path gets the first library.
pub(crate) fn environment(library: &Path) -> anyhow::Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| format!("loading ONNX Runtime from {}: {e}", library.display()))?
                .with_name("cutroom")
                .build()
                .map_err(|e| format!("starting ONNX Runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// A session for `model` that runs on `threads` threads of the calling
/// thread's job (a worker runs one job, so it owns the cores).
pub(crate) fn session(library: &Path, model: &Path, threads: usize) -> anyhow::Result<Session> {
    let env = environment(library)?;
    let open = || -> ort::Result<Session> {
        Session::builder(env)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_threads(threads.max(1))?
            .with_inter_threads(1)?
            .commit_from_file(model)
    };
    open().with_context(|| format!("loading the ONNX model {}", model.display()))
}

//! The models a worker runs jobs with, opened once when it starts.
//!
//! [`Engines::open`] checks the model folder (every file present, with the
//! checksum `models install` recorded) before the worker takes a job, so a
//! missing or damaged model stops the worker with a message naming the file
//! instead of failing jobs one by one. Whisper models are loaded on first
//! use and kept; ONNX sessions are cheap and made per job.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use cutroom_core::Config;
use whisper_rs::{WhisperContext, WhisperContextParameters};

use crate::models::{ModelSet, WhisperModel};

pub(crate) struct Engines {
    pub set: ModelSet,
    /// Threads one job may use (whisper.cpp, ONNX Runtime).
    pub threads: usize,
    whisper: Mutex<HashMap<WhisperModel, Arc<WhisperContext>>>,
}

impl Engines {
    /// Verifies the model folder and loads ONNX Runtime. Blocking (hashes
    /// a few hundred megabytes the first time in a process).
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let set = ModelSet::open(&config.models_dir)?;
        crate::onnx::environment(&set.onnxruntime().path)?;
        Ok(Self {
            set,
            threads: usize::from(config.whisper_threads.max(1)),
            whisper: Mutex::new(HashMap::new()),
        })
    }

    /// The loaded Whisper model, loading it on first use.
    pub fn whisper(&self, model: WhisperModel) -> anyhow::Result<Arc<WhisperContext>> {
        let mut cache = self.whisper.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ctx) = cache.get(&model) {
            return Ok(Arc::clone(ctx));
        }
        let file = self.set.whisper(model);
        // Word timing comes from whisper.cpp's token timestamps. Its DTW
        // alignment (`DtwParameters`) hung the decoder in our tests with
        // these converted models, so it stays off until that is understood.
        let params = WhisperContextParameters::default();
        let path = file.path.to_str().context("the model path is not UTF-8")?;
        let ctx = WhisperContext::new_with_params(path, params)
            .with_context(|| format!("loading the Whisper model {}", file.path.display()))?;
        let ctx = Arc::new(ctx);
        cache.insert(model, Arc::clone(&ctx));
        Ok(ctx)
    }
}

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
use cutroom_core::{
    Config,
    config::{SpeakerModel, WhisperQuant},
};
use whisper_rs::{WhisperContext, WhisperContextParameters};

use crate::{
    analysis::local::LocalLlm,
    models::{ModelFile, ModelSet, WhisperModel},
    text::{embed::SentenceEmbedder, meaning::Meaning, toxicity::Toxicity},
};

pub(crate) struct Engines {
    pub set: ModelSet,
    /// Threads one job may use (whisper.cpp, ONNX Runtime).
    pub threads: usize,
    /// Which file of each Whisper model [`Engines::whisper`] loads.
    pub quant: WhisperQuant,
    /// whisper.cpp's flash attention.
    pub flash_attn: bool,
    /// The model that tells voices apart.
    pub speaker_model: SpeakerModel,
    /// The `local` analysis provider's model, when the operator set one
    /// up; a started server stops with the engines.
    pub local_llm: Option<LocalLlm>,
    whisper: Mutex<HashMap<WhisperModel, Arc<WhisperContext>>>,
    meaning: Mutex<Option<Arc<Meaning>>>,
}

impl Engines {
    /// Verifies the model folder and loads ONNX Runtime. Blocking (hashes
    /// a few hundred megabytes the first time in a process).
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        static LOG: std::sync::Once = std::sync::Once::new();
        // SAFETY: `whisper_log` is a plain function that only reads the
        // text it is given; set once, before any model is loaded.
        #[allow(unsafe_code)]
        LOG.call_once(|| unsafe {
            whisper_rs_sys::whisper_log_set(Some(whisper_log), std::ptr::null_mut());
        });
        let set = ModelSet::open(&config.models_dir)?;
        crate::onnx::environment(&set.onnxruntime().path)?;
        Ok(Self {
            set,
            threads: usize::from(config.whisper_threads.max(1)),
            quant: config.whisper_quant,
            flash_attn: config.whisper_flash_attn,
            speaker_model: config.speaker_model,
            local_llm: None,
            whisper: Mutex::new(HashMap::new()),
            meaning: Mutex::new(None),
        })
    }

    /// The file [`Engines::whisper`] loads for `model`: the one to record
    /// as having made a transcript.
    pub fn whisper_file(&self, model: WhisperModel) -> &ModelFile {
        match self.quant {
            WhisperQuant::F16 => self.set.whisper(model),
            WhisperQuant::Q8_0 => self.set.whisper_q8_0(model),
        }
    }

    /// The speaker model's file: the one to record as having made
    /// `speakers.json`.
    pub fn speaker_file(&self) -> &ModelFile {
        self.set.speaker_model(self.speaker_model)
    }

    /// A sentence embedder (MiniLM) on this job's threads.
    pub fn sentence_embedder(&self) -> anyhow::Result<SentenceEmbedder> {
        let (model, tokenizer) = self.set.sentence_embedder();
        SentenceEmbedder::open(
            &self.set.onnxruntime().path,
            &model.path,
            &tokenizer.path,
            self.threads,
        )
    }

    /// The toxicity classifier on this job's threads.
    pub fn toxicity(&self) -> anyhow::Result<Toxicity> {
        let (model, vocabulary) = self.set.toxicity();
        Toxicity::open(
            &self.set.onnxruntime().path,
            &model.path,
            &vocabulary.path,
            self.threads,
        )
    }

    /// The moderation exemplar bank, embedded and fitted on first use (271
    /// sentences through MiniLM) and kept: it is the same for every job.
    pub fn meaning(&self) -> anyhow::Result<Arc<Meaning>> {
        let mut cache = self.meaning.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bank) = &*cache {
            return Ok(Arc::clone(bank));
        }
        let bank = Arc::new(Meaning::fit(&mut self.sentence_embedder()?)?);
        *cache = Some(Arc::clone(&bank));
        Ok(bank)
    }

    /// The loaded Whisper model, loading it on first use.
    pub fn whisper(&self, model: WhisperModel) -> anyhow::Result<Arc<WhisperContext>> {
        let mut cache = self.whisper.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ctx) = cache.get(&model) {
            return Ok(Arc::clone(ctx));
        }
        let file = self.whisper_file(model);
        // Word timing comes from whisper.cpp's token timestamps, moved onto
        // the audio (`transcribe::words::snap_words_to_audio`). Its DTW alignment
        // (`DtwParameters`, model preset) runs, but on espeak-ng words with
        // known edges its one time per token fell 0.1-0.5 s after the word
        // began, often past its end, so it stays off.
        let mut params = WhisperContextParameters::default();
        // Flash attention would turn the DTW alignment off; it is off anyway.
        params.flash_attn(self.flash_attn);
        let path = file.path.to_str().context("the model path is not UTF-8")?;
        let ctx = WhisperContext::new_with_params(path, params)
            .with_context(|| format!("loading the Whisper model {}", file.path.display()))?;
        let ctx = Arc::new(ctx);
        cache.insert(model, Arc::clone(&ctx));
        Ok(ctx)
    }
}

/// whisper.cpp's and ggml's log lines, into `tracing` (they would go to
/// stderr): model-loading chatter at debug, warnings and errors as such.
/// The "error" whisper.cpp writes when `transcribe::decode::encode_again` declines
/// an encoder pass is the worker's own choice, so it goes to trace.
#[allow(unsafe_code)]
unsafe extern "C" fn whisper_log(
    level: whisper_rs_sys::ggml_log_level,
    text: *const std::ffi::c_char,
    _: *mut std::ffi::c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: whisper.cpp hands a NUL-terminated string valid for the call.
    let text = unsafe { std::ffi::CStr::from_ptr(text) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    match level {
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_ERROR
            if text.contains("encoder_begin_callback returned false") =>
        {
            tracing::trace!(target: "whisper", "{text}")
        }
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_ERROR => {
            tracing::error!(target: "whisper", "{text}")
        }
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_WARN => {
            tracing::warn!(target: "whisper", "{text}")
        }
        whisper_rs_sys::ggml_log_level_GGML_LOG_LEVEL_INFO => {
            tracing::debug!(target: "whisper", "{text}")
        }
        _ => tracing::trace!(target: "whisper", "{text}"),
    }
}

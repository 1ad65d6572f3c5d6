//! The worker's stages as the benchmarks in `worker/benches` call them:
//! plain types in and out, the same code a job runs inside, without the
//! database, the scratch folder or progress events around it.
//!
//! Not an API (`#[doc(hidden)]`): it changes with the stages.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::anyhow;
use cutroom_core::{
    Config,
    jobs::{SilenceOptions, SpeakerOptions, TranscriptionOptions},
};
use tokio_util::sync::CancellationToken;

pub use crate::pipeline::loudness::bench::{Meter, decode};
pub use crate::pipeline::transcribe::route;
pub use crate::wer::{Wer, words};
pub use cutroom_core::config::{SpeakerModel, WhisperQuant};

use crate::{
    engines::Engines,
    models::WhisperModel,
    pipeline::{Progress, StageError, silence, speakers, transcribe, vad::SileroVad},
};

mod llama;
mod voices;
mod wording;
pub use llama::{LlamaServer, SMOLLM2, SMOLLM2_GGUF};
pub use voices::{Voices, Windows, tuning};
pub use wording::{Worded, rouge_l};

/// The sample rate every listening stage reads.
pub const RATE: u32 = 16_000;

/// The model folder, checked once. Each stage call opens its own
/// [`Engines`] with the threads (and Whisper weights) it is given, so one
/// benchmark row's loaded models never serve the next.
pub struct Models {
    dir: PathBuf,
}

impl Models {
    /// Verifies the folder as a worker does at start-up. The checksums are
    /// remembered for the process, so the rows that follow do not pay them.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let models = Self {
            dir: dir.to_owned(),
        };
        models.engines(1, WhisperQuant::F16)?;
        Ok(models)
    }

    pub(crate) fn engines(&self, threads: u16, quant: WhisperQuant) -> anyhow::Result<Engines> {
        self.engines_with(threads, quant, false)
    }

    fn engines_with(
        &self,
        threads: u16,
        quant: WhisperQuant,
        flash_attn: bool,
    ) -> anyhow::Result<Engines> {
        let mut config = Config::for_data_dir("/nonexistent", "x".repeat(32).into());
        config.models_dir.clone_from(&self.dir);
        config.whisper_threads = threads;
        config.whisper_quant = quant;
        config.whisper_flash_attn = flash_attn;
        Engines::open(&config)
    }

    /// Samples faces over `start..end` of `source` as speaker framing does
    /// (a frame every half second, CenterFace on `threads` threads): the
    /// frames looked at, those with a face, and the seconds it took.
    pub fn sample_faces(
        &self,
        source: &Path,
        (start, end): (f64, f64),
        threads: u16,
    ) -> anyhow::Result<(usize, usize, f64)> {
        use crate::pipeline::clips::faces::{FaceDetector, sample};
        let engines = self.engines(threads, WhisperQuant::F16)?;
        let model = engines
            .set
            .face_detector()
            .ok_or_else(|| anyhow!("the model folder has no face detector"))?;
        let mut detector = FaceDetector::open(
            &engines.set.onnxruntime().path,
            &model.path,
            usize::from(threads),
        )?;
        let started = std::time::Instant::now();
        let samples = sample(
            source,
            (start, end),
            &mut detector,
            &CancellationToken::new(),
        )?
        .ok_or_else(|| anyhow!("stopped"))?;
        let with_faces = samples.iter().filter(|(_, f)| !f.is_empty()).count();
        Ok((samples.len(), with_faces, started.elapsed().as_secs_f64()))
    }

    /// The ggml file a job would load, for other programs to read.
    pub fn whisper_file(
        &self,
        model: WhisperModel,
        quant: WhisperQuant,
    ) -> anyhow::Result<PathBuf> {
        Ok(self.engines(1, quant)?.whisper_file(model).path.clone())
    }

    /// The silence stage: Silero VAD over `threads` pieces side by side,
    /// then the speech edges, with a job's default options. Speech as
    /// (start, end) in seconds.
    pub fn speech(&self, samples: &[f32], threads: u16) -> anyhow::Result<Vec<(f64, f64)>> {
        let engines = self.engines(threads, WhisperQuant::F16)?;
        let set = &engines.set;
        let mut vad = SileroVad::open(
            &set.onnxruntime().path,
            &set.silero_vad().path,
            engines.threads,
        )?;
        let probs = vad
            .probabilities(samples, &CancellationToken::new())?
            .ok_or_else(|| anyhow!("stopped"))?;
        let report = silence::detect(samples, RATE, &SilenceOptions::default(), &probs);
        Ok(report.speech.iter().map(|s| (s.start, s.end)).collect())
    }

    /// The transcription stage's work, loading the model first (as a
    /// worker's first job does). `speech` is what it transcribes: the
    /// silence stage's intervals, or the whole file as one. Returns the
    /// text of every segment. `flash_attn`: whisper.cpp's flash attention.
    pub fn transcribe(
        &self,
        (model, quant, flash_attn): (WhisperModel, WhisperQuant, bool),
        threads: u16,
        samples: &[f32],
        speech: &[(f64, f64)],
    ) -> anyhow::Result<String> {
        let engines = self.engines_with(threads, quant, flash_attn)?;
        let options = TranscriptionOptions {
            model: Some(model.name().to_owned()),
            language: Some("en".to_owned()),
            ..TranscriptionOptions::default()
        };
        let transcript = transcribe::transcribe_with_progress(
            &engines,
            model,
            &options,
            samples,
            &intervals(speech),
            &CancellationToken::new(),
            &Progress::default(),
        )
        .map_err(|e| match e {
            StageError::Failed(f) => anyhow!("{f} ({})", f.detail.as_deref().unwrap_or_default()),
            e => anyhow!("{e}"),
        })?
        .ok_or_else(|| anyhow!("stopped"))?;
        let text: Vec<&str> = transcript
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        Ok(text.join(" "))
    }

    /// The speakers stage's work with a job's default options: the speaker
    /// of each 10 ms frame, `None` outside speech.
    pub fn diarize(
        &self,
        threads: u16,
        samples: &[f32],
        speech: &[(f64, f64)],
    ) -> anyhow::Result<Vec<Option<usize>>> {
        let engines = self.engines(threads, WhisperQuant::F16)?;
        let timeline = speakers::diarize(
            &engines,
            &SpeakerOptions::default(),
            samples,
            &intervals(speech),
            &CancellationToken::new(),
            &Progress::default(),
        )?
        .ok_or_else(|| anyhow!("stopped"))?;
        Ok(timeline.frames)
    }
}

/// What the analysis and moderation stages made of a transcript.
#[derive(Debug)]
pub struct Understood {
    pub sentences: usize,
    pub chapters: usize,
    pub highlights: usize,
    pub segments: usize,
    pub flagged: usize,
}

impl Models {
    /// The analysis stage's work (sentences, MiniLM embeddings, the builtin
    /// analysis with 15-60 s highlights, no loudness signal) and the
    /// moderation stage's (the toxicity classifier and the meaning detector
    /// per segment, the default policy; the exemplar bank fitted before the
    /// clock starts, as a worker does once) on a
    /// transcript made of `lines`: one segment per `(start, end, text)`,
    /// its words spread evenly over it. Returns the time of each part.
    pub fn understand(
        &self,
        threads: u16,
        lines: &[(f64, f64, String)],
    ) -> anyhow::Result<(Understood, f64, f64)> {
        use crate::pipeline::moderate;
        let engines = self.engines(threads, WhisperQuant::F16)?;
        let transcript = transcript_of(lines);

        let started = std::time::Instant::now();
        let (found, analysis) = plain_builtin(&engines, &transcript)?;
        let analysis_seconds = started.elapsed().as_secs_f64();

        engines.meaning()?;
        let started = std::time::Instant::now();
        let texts: Vec<&str> = transcript
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        let scores = moderate::signals::score_texts(&engines, &texts)?;
        let report = moderate::assess(&Default::default(), &transcript, Some(&scores));
        let moderation_seconds = started.elapsed().as_secs_f64();
        Ok((
            Understood {
                sentences: found.len(),
                chapters: analysis.chapters.len(),
                highlights: analysis.highlights.len(),
                segments: report.summary.segments,
                flagged: report.flags.len(),
            },
            analysis_seconds,
            moderation_seconds,
        ))
    }
}

/// What an LLM provider made of a transcript, and what it took.
#[derive(Debug)]
pub struct LlmUnderstood {
    /// `ok`, or the fallback code a job would record.
    pub outcome: String,
    pub seconds: f64,
    pub chunks: usize,
    pub requests: u32,
    pub repairs: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub chapters: usize,
    pub highlights: usize,
}

impl Models {
    /// The `openai` provider's part of the analysis stage on the same
    /// transcript as [`Models::understand`]: chunks of `chunk_seconds`, at
    /// most `max_in_flight` requests at a time, against `base_url`.
    pub fn understand_with_llm(
        &self,
        base_url: &str,
        model: &str,
        lines: &[(f64, f64, String)],
        chunk_seconds: f64,
        max_in_flight: usize,
    ) -> anyhow::Result<LlmUnderstood> {
        use crate::analysis::{
            llm::{LlmClient, LlmConfig, Wire},
            provider,
        };
        let transcript = transcript_of(lines);
        let engines = self.engines(2, WhisperQuant::F16)?;
        let (found, fallback) = plain_builtin(&engines, &transcript)?;
        let lengths = BENCH_LENGTHS;
        let mut config = LlmConfig::new(Wire::OpenAi, base_url, model, None);
        config.timeout = std::time::Duration::from_secs(600);
        // The benchmark's endpoint is the operator's own (a llama-server
        // on loopback, usually): let it through the outbound guard.
        if let Some(host) = base_url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
        {
            config.private_hosts.insert(host.to_ascii_lowercase());
        }
        let client = LlmClient::new(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (result, run) = runtime.block_on(provider::analyse(
            &client,
            &found,
            lengths,
            chunk_seconds,
            max_in_flight,
            &fallback,
            |_, _| {},
        ));
        let (outcome, chapters, highlights) = match result {
            Ok((a, _)) => ("ok".to_owned(), a.chapters.len(), a.highlights.len()),
            Err(e) => (e.code().to_owned(), 0, 0),
        };
        Ok(LlmUnderstood {
            outcome,
            seconds: run.seconds,
            chunks: run.chunks,
            requests: run.usage.requests,
            repairs: run.repairs,
            prompt_tokens: run.usage.prompt_tokens,
            completion_tokens: run.usage.completion_tokens,
            chapters,
            highlights,
        })
    }
}

/// Highlight lengths of the benchmarks' analyses.
const BENCH_LENGTHS: crate::analysis::builtin::Lengths = crate::analysis::builtin::Lengths {
    min: 15.0,
    max: 60.0,
};

/// The builtin analysis of `transcript` without sound signals (no
/// loudness, no noise), as the analysis benchmarks run it: its sentences
/// and the analysis.
fn plain_builtin(
    engines: &Engines,
    transcript: &crate::pipeline::transcribe::Transcript,
) -> anyhow::Result<(
    Vec<crate::analysis::sentences::Sentence>,
    crate::analysis::builtin::Analysis,
)> {
    use crate::analysis::{builtin, sentences};
    let found = sentences::split(transcript);
    let mut embedder = engines.sentence_embedder()?;
    let texts: Vec<&str> = found.iter().map(|s| s.text.as_str()).collect();
    let embeddings = embedder.embed(&texts)?;
    let signals = builtin::Signals {
        loudness: &[],
        loudness_interval: 0.1,
        noise: &[],
    };
    let analysis = builtin::analyse(&found, &embeddings, &signals, BENCH_LENGTHS);
    Ok((found, analysis))
}

/// A transcript of one segment per `(start, end, text)`, its words spread
/// evenly over it.
fn transcript_of(lines: &[(f64, f64, String)]) -> crate::pipeline::transcribe::Transcript {
    use crate::pipeline::transcribe::{Segment, Transcript, Word};
    let segments = lines
        .iter()
        .enumerate()
        .map(|(id, (start, end, text))| {
            let words: Vec<&str> = text.split_whitespace().collect();
            let step = (end - start) / words.len().max(1) as f64;
            Segment {
                id,
                start: *start,
                end: *end,
                text: text.clone(),
                speaker: Some("S1".into()),
                confidence: 1.0,
                words: words
                    .iter()
                    .enumerate()
                    .map(|(k, w)| Word {
                        start: start + k as f64 * step,
                        end: start + (k as f64 + 0.8) * step,
                        text: format!(" {w}"),
                        probability: 1.0,
                        speaker: Some("S1".into()),
                    })
                    .collect(),
                edited_at: None,
            }
        })
        .collect();
    Transcript {
        version: 1,
        model: "tiny.en".into(),
        language: Some("en".into()),
        language_probability: None,
        duration: lines.last().map_or(0.0, |l| l.1),
        segments,
    }
}

/// Any audio file as 16 kHz mono f32, through the ffmpeg command line.
pub fn load_audio(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-ac", "1", "-ar", "16000", "-"])
        .output()
        .expect("ffmpeg is installed (bash .ci/setup)");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub(crate) fn intervals(speech: &[(f64, f64)]) -> Vec<silence::Interval> {
    speech
        .iter()
        .map(|&(start, end)| silence::Interval { start, end })
        .collect()
}

/// What one clip render cost.
#[derive(Clone, Copy, Debug)]
pub struct ClipRender {
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    /// Of `frames`, those copied from the source (a smart render).
    pub copied_frames: u64,
    /// Fitting the gain to -14 LUFS (decoding and filtering the clip's
    /// audio a few times).
    pub fit_seconds: f64,
    /// Decoding, filtering, encoding and muxing the clip.
    pub render_seconds: f64,
}

/// Renders `start..end` of `source` in `format` as the clips stage does,
/// into `out` (a `.mp4` path), with burned captions of one word a second
/// when `captions` is set. `smart` lets an `original` clip without
/// captions copy the source's video between keyframes, as the stage does.
pub fn render_clip(
    source: &Path,
    out: &Path,
    (start, end): (f64, f64),
    format: cutroom_core::clips::ClipFormat,
    reframe: cutroom_core::clips::Reframe,
    captions: bool,
    smart: bool,
) -> anyhow::Result<ClipRender> {
    use crate::pipeline::clips::{self, captions as cc, render};
    let media = crate::pipeline::probe::probe(source).map_err(|e| anyhow!("{e:?}"))?;
    let (picture, origin) = render::inspect(source, media.audio_stream)?;
    let picture = picture.ok_or_else(|| anyhow!("the source has no picture"))?;
    let (width, height) = clips::canvas(format, picture);
    let mut filters = clips::reframe_filters(format, reframe, picture, width, height);
    if captions {
        let words: Vec<cc::ClipWord> = (0..(end - start) as usize)
            .map(|k| cc::ClipWord {
                start: k as f64,
                end: k as f64 + 0.8,
                text: format!("word{k}"),
            })
            .collect();
        let style = cc::BurnStyle {
            width,
            height,
            words_per_caption: 3,
            title: None,
        };
        let ass = out.with_extension("ass");
        std::fs::write(&ass, cc::ass(&words, end - start, style))?;
        filters.push_str(&format!(",ass=filename={}", clips::filter_path(&ass)));
    }
    let mut spec = render::RenderSpec {
        source: source.to_path_buf(),
        audio_stream: media.audio_stream,
        origin,
        start,
        end,
        video_filters: filters,
        width,
        height,
        gain_db: 0.0,
        output: out.to_path_buf(),
        thumbnail: Some(out.with_extension("jpg")),
        audio: true,
        crf: render::CLIP_CRF,
        keep: Vec::new(),
        smart,
    };
    let stop = CancellationToken::new();
    let started = std::time::Instant::now();
    let fitted = render::fit_loudness(&spec, -14.0, &stop)?.ok_or_else(|| anyhow!("stopped"))?;
    let fit_seconds = started.elapsed().as_secs_f64();
    spec.gain_db = fitted.gain_db;
    let started = std::time::Instant::now();
    let rendered =
        render::render(&spec, picture, &|_| {}, &stop)?.ok_or_else(|| anyhow!("stopped"))?;
    Ok(ClipRender {
        width,
        height,
        frames: rendered.frames,
        copied_frames: rendered.copied_frames,
        fit_seconds,
        render_seconds: started.elapsed().as_secs_f64(),
    })
}

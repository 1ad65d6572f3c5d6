//! Job options and the queue payload.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    analysis::Provider,
    clips::ClipOptions,
    moderation::ModerationPolicy,
    speech::{EngineChoice, Tier},
};

/// The one queue all pipeline work goes through.
pub const PIPELINE_QUEUE: &str = "cutroom.pipeline";

/// What a worker receives: which job, of which tenant. Everything else is
/// read from the job row, so re-running the same task is harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineTask {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// The job's `dispatched_at` when this task was made (to the
    /// microsecond). A job retried while an old task of it was still in the
    /// queue has a newer one; the old task then finds nothing to do rather
    /// than running the job twice. Absent in tasks made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new job row, queued, with nothing but its tenant, author, kind of
/// source and options set: callers fill in the source and what makes the
/// job special (a re-render's parent, a batch child's entry).
pub fn new_row(
    tenant_id: Uuid,
    created_by: String,
    source_type: cutroom_entities::SourceType,
    options: &JobOptions,
) -> cutroom_entities::job::Model {
    let now = chrono::Utc::now();
    cutroom_entities::job::Model {
        id: Uuid::now_v7(),
        tenant_id,
        source_type,
        source_url: None,
        upload_id: None,
        title: None,
        source_key: None,
        options: serde_json::to_value(options).expect("options are plain data"),
        status: cutroom_entities::JobStatus::Queued,
        stage: None,
        progress: 0,
        error_code: None,
        error_message: None,
        cancel_requested: false,
        media: None,
        created_by,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        parent_id: None,
        keep_source_hours: 0,
        kept_source_key: None,
        kept_source_until: None,
        clip_ranges: None,
        dispatched_at: None,
        attempts: 0,
        retry_at: None,
        enrols_speaker_id: None,
        unpacks_batch_id: None,
        batch_id: None,
        entry_path: None,
        metadata: None,
    }
}

/// Per-job knobs. Every field has a default, so `{}` is a valid value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct JobOptions {
    pub silence: SilenceOptions,
    pub transcription: TranscriptionOptions,
    pub speakers: SpeakerOptions,
    pub analysis: AnalysisOptions,
    /// Moderation rules for this job. Categories left out take the tenant's
    /// rule (written in when the job is submitted), else Cutroom's default.
    pub moderation: ModerationPolicy,
    /// The clips rendered from the best highlights.
    pub clips: ClipOptions,
    /// Fetch and process the sound alone (default false). A video link
    /// then downloads only its best audio, which is smaller and faster,
    /// and no clips are made (`clips.json` says why). Otherwise a video
    /// link fetches the best video up to the server's
    /// `CUTROOM_MAX_SOURCE_HEIGHT` (1080 unless changed) merged with the
    /// best audio.
    pub audio_only: bool,
}

/// Who speaks when. The number of speakers is estimated from the voices;
/// bounds given here are kept to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpeakerOptions {
    /// At least this many speakers (1-20).
    #[schema(example = 2)]
    pub min_speakers: Option<u32>,
    /// At most this many speakers (1-20); `1` labels every word `S1`.
    #[schema(example = 4)]
    pub max_speakers: Option<u32>,
}

/// Content analysis: chapters, summary and highlight candidates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisOptions {
    /// Who analyses: `builtin` (no network), or the tenant's `gemini` or
    /// `openai` endpoint. Unset: the tenant's default, else `builtin`. An
    /// LLM provider that fails (after retries and one repair request) falls
    /// back to `builtin`, and `analysis.json` says so.
    pub provider: Option<Provider>,
    pub highlights: HighlightOptions,
}

/// How long highlight candidates may be. Candidates start and end on
/// sentence boundaries, so they fall inside these bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HighlightOptions {
    /// Shortest candidate, seconds (5-600, default 15).
    #[schema(example = 15)]
    pub min_seconds: u32,
    /// Longest candidate, seconds (5-600, default 60; at least `min_seconds`).
    #[schema(example = 60)]
    pub max_seconds: u32,
}

impl Default for HighlightOptions {
    fn default() -> Self {
        Self {
            min_seconds: 15,
            max_seconds: 60,
        }
    }
}

/// Largest speaker count a job may ask for.
pub const MAX_SPEAKERS: u32 = 20;

/// Which engine and Whisper model transcribe, and in which language.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TranscriptionOptions {
    /// `tiny.en` (fast, English only) or `base` (multilingual). Unset: the
    /// tenant's default, else the server's (`CUTROOM_WHISPER_MODEL`, `tiny.en`
    /// unless changed). A tenant's default is written in when the job is
    /// submitted, so a later change of it does not reach queued jobs.
    #[schema(example = "tiny.en")]
    pub model: Option<String>,
    /// ISO 639-1 code of the spoken language. Unset: `en` for `tiny.en`,
    /// detected from the first speech for `base`.
    #[schema(example = "en")]
    pub language: Option<String>,
    /// Who transcribes: `auto` (the router decides from the speech's
    /// length, the tier, the tenant's engines and budget), `local`
    /// (whisper.cpp on the worker), or a cloud engine the tenant has a key
    /// for (`deepgram`, `assemblyai`, `openai`). Unset: the tenant's
    /// default, else `auto`. An engine that fails hands over to the next
    /// (the job's cost report says which and why).
    pub engine: Option<EngineChoice>,
    /// `fast` (cheapest), `balanced` (default) or `accurate` (a cloud
    /// engine when one is set up and the budget allows).
    pub tier: Option<Tier>,
}

/// The models a job (or a tenant's default) may ask for.
pub const WHISPER_MODELS: [&str; 2] = ["tiny.en", "base"];

/// A model file that produced an output: which weights, exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelUse {
    /// The file's name in the model folder, e.g. `whisper-base.bin`.
    #[schema(example = "silero_vad.onnx")]
    pub name: String,
    /// Hex SHA-256 of the file, as `cutroom models verify` checks it.
    pub sha256: String,
}

/// Refuses a model name that is not in [`WHISPER_MODELS`]; `field` is the
/// path the caller sent it under, so the message points at it.
pub(crate) fn check_model(field: &str, model: &str) -> Result<(), String> {
    if WHISPER_MODELS.contains(&model) {
        Ok(())
    } else {
        Err(format!(
            "{field} must be one of {}",
            WHISPER_MODELS.join(", ")
        ))
    }
}

/// The transcription model of a job that names none, and whose choice it
/// is, so an error can say which default stands in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultModel<'a> {
    /// The tenant's settings.
    Tenant(&'a str),
    /// The server's configuration (`CUTROOM_WHISPER_MODEL`).
    Server(&'a str),
}

impl<'a> DefaultModel<'a> {
    pub fn name(self) -> &'a str {
        match self {
            DefaultModel::Tenant(m) | DefaultModel::Server(m) => m,
        }
    }

    fn whose(self) -> &'static str {
        match self {
            DefaultModel::Tenant(_) => "this tenant's default",
            DefaultModel::Server(_) => "this server's default",
        }
    }
}

/// The languages Whisper's multilingual models know, as whisper.cpp names them.
pub const WHISPER_LANGUAGES: [&str; 100] = [
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it",
    "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur",
    "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn",
    "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si",
    "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo",
    "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln",
    "ha", "ba", "jw", "su", "yue",
];

/// Speech and silence: Silero VAD decides what is speech, the audio level
/// tightens its boundaries and tells quiet passages from music or noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SilenceOptions {
    /// Speech probability (0-1) at which the voice detector starts a speech
    /// interval; it ends one when the probability falls 0.15 below.
    pub vad_threshold: f32,
    /// Audio below this level (dBFS, RMS over 10 ms frames) counts as silent:
    /// speech boundaries are moved onto audible audio, and non-speech
    /// passages above it are reported as `noise` rather than `quiet`.
    pub threshold_db: f32,
    /// Pauses shorter than this stay part of the speech around them.
    pub min_silence_ms: u32,
    /// Speech shorter than this (a click, a cough) is not speech.
    pub min_speech_ms: u32,
    /// Speech intervals are widened by this much on both sides, so cuts land
    /// in silence rather than on the first or last syllable.
    pub margin_ms: u32,
}

impl Default for SilenceOptions {
    fn default() -> Self {
        Self {
            vad_threshold: 0.5,
            threshold_db: -50.0,
            min_silence_ms: 500,
            min_speech_ms: 250,
            margin_ms: 100,
        }
    }
}

impl JobOptions {
    /// Range checks that serde cannot express; the message names the field.
    /// `default_model` is the transcription model of jobs that name none.
    pub fn validate(&self, default_model: DefaultModel<'_>) -> Result<(), String> {
        let s = &self.silence;
        if !(0.05..=0.95).contains(&s.vad_threshold) {
            return Err("options.silence.vad_threshold must be between 0.05 and 0.95".into());
        }
        if s.min_speech_ms > 10_000 {
            return Err("options.silence.min_speech_ms must be at most 10000".into());
        }
        if !(-100.0..=0.0).contains(&s.threshold_db) {
            return Err("options.silence.threshold_db must be between -100 and 0 dBFS".into());
        }
        if !(10..=60_000).contains(&s.min_silence_ms) {
            return Err("options.silence.min_silence_ms must be between 10 and 60000".into());
        }
        if s.margin_ms > 5_000 {
            return Err("options.silence.margin_ms must be at most 5000".into());
        }
        let t = &self.transcription;
        if let Some(model) = &t.model {
            check_model("options.transcription.model", model)?;
        }
        if let Some(lang) = &t.language {
            if !WHISPER_LANGUAGES.contains(&lang.as_str()) {
                return Err(format!(
                    "options.transcription.language `{lang}` is not a language Whisper knows (ISO 639-1 codes such as en, de, fr)"
                ));
            }
            let model = t.model.as_deref().unwrap_or(default_model.name());
            if model == "tiny.en" && lang != "en" {
                return Err(format!(
                    "the transcription model tiny.en{} only knows English; set options.transcription.model to base for other languages",
                    if t.model.is_none() {
                        format!(" ({})", default_model.whose())
                    } else {
                        String::new()
                    }
                ));
            }
        }
        let sp = &self.speakers;
        for (name, value) in [
            ("min_speakers", sp.min_speakers),
            ("max_speakers", sp.max_speakers),
        ] {
            if value.is_some_and(|n| !(1..=MAX_SPEAKERS).contains(&n)) {
                return Err(format!(
                    "options.speakers.{name} must be between 1 and {MAX_SPEAKERS}"
                ));
            }
        }
        if let (Some(min), Some(max)) = (sp.min_speakers, sp.max_speakers)
            && min > max
        {
            return Err("options.speakers.min_speakers must not be more than max_speakers".into());
        }
        let h = &self.analysis.highlights;
        for (name, value) in [
            ("min_seconds", h.min_seconds),
            ("max_seconds", h.max_seconds),
        ] {
            if !(5..=600).contains(&value) {
                return Err(format!(
                    "options.analysis.highlights.{name} must be between 5 and 600"
                ));
            }
        }
        if h.min_seconds > h.max_seconds {
            return Err(
                "options.analysis.highlights.min_seconds must not be more than max_seconds".into(),
            );
        }
        self.moderation.validate("options.moderation")?;
        self.clips.validate("options.clips")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_options_take_defaults_and_unknown_fields_are_rejected() {
        let o: JobOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, JobOptions::default());
        assert!(serde_json::from_str::<JobOptions>(r#"{"silense": {}}"#).is_err());
        let short: JobOptions = serde_json::from_str(
            r#"{"analysis": {"highlights": {"min_seconds": 90, "max_seconds": 30}}}"#,
        )
        .unwrap();
        assert_eq!(
            short.validate(DefaultModel::Server("tiny.en")).unwrap_err(),
            "options.analysis.highlights.min_seconds must not be more than max_seconds"
        );
        let bad: JobOptions = serde_json::from_str(r#"{"silence": {"threshold_db": 3}}"#).unwrap();
        assert!(
            bad.validate(DefaultModel::Server("tiny.en"))
                .unwrap_err()
                .contains("threshold_db")
        );
    }

    #[test]
    fn audio_only_is_off_unless_asked_for() {
        assert!(!JobOptions::default().audio_only);
        let o: JobOptions = serde_json::from_str(r#"{"audio_only": true}"#).unwrap();
        assert!(o.audio_only);
        assert!(o.validate(DefaultModel::Server("tiny.en")).is_ok());
        assert!(serde_json::from_str::<JobOptions>(r#"{"audio_only": "yes"}"#).is_err());
    }

    #[test]
    fn a_language_is_checked_against_the_default_that_applies() {
        let fr: JobOptions =
            serde_json::from_str(r#"{"transcription": {"language": "fr"}}"#).unwrap();
        assert!(fr.validate(DefaultModel::Server("base")).is_ok());
        let err = fr.validate(DefaultModel::Tenant("tiny.en")).unwrap_err();
        assert!(err.contains("this tenant's default"), "{err}");
    }
}

//! Job options and the queue payload.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one queue all pipeline work goes through.
pub const PIPELINE_QUEUE: &str = "cutroom.pipeline";

/// What a worker receives: which job, of which tenant. Everything else is
/// read from the job row, so re-running the same task is harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineTask {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
}

/// Per-job knobs. Every field has a default, so `{}` is a valid value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct JobOptions {
    pub silence: SilenceOptions,
}

/// Silence detection by audio energy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SilenceOptions {
    /// Audio below this level (dBFS, RMS over 10 ms frames) counts as silent.
    pub threshold_db: f32,
    /// Quieter stretches shorter than this stay part of the speech around them.
    pub min_silence_ms: u32,
    /// Speech intervals are widened by this much on both sides, so cuts land
    /// in silence rather than on the first or last syllable.
    pub margin_ms: u32,
}

impl Default for SilenceOptions {
    fn default() -> Self {
        Self {
            threshold_db: -40.0,
            min_silence_ms: 500,
            margin_ms: 100,
        }
    }
}

impl JobOptions {
    /// Range checks that serde cannot express; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.silence;
        if !(-100.0..=0.0).contains(&s.threshold_db) {
            return Err("options.silence.threshold_db must be between -100 and 0 dBFS".into());
        }
        if !(10..=60_000).contains(&s.min_silence_ms) {
            return Err("options.silence.min_silence_ms must be between 10 and 60000".into());
        }
        if s.margin_ms > 5_000 {
            return Err("options.silence.margin_ms must be at most 5000".into());
        }
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
        let bad: JobOptions = serde_json::from_str(r#"{"silence": {"threshold_db": 3}}"#).unwrap();
        assert!(bad.validate().unwrap_err().contains("threshold_db"));
    }
}

//! The transcript, one shape for everyone: the worker writes it as
//! `transcript.json` and as rows (`transcripts`, `transcript_segments`),
//! the API serves the rows with people's corrections, search reads them,
//! and a re-render captions from them.

use chrono::{DateTime, Utc};
use cutroom_entities::{transcript, transcript_segment};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `transcript.json`'s `version`; bumped when its shape changes
/// incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// The contents of `transcript.json`. Times are seconds on the source's
/// timeline, rounded to the millisecond.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub version: u32,
    /// `tiny.en` or `base`.
    pub model: String,
    /// ISO 639-1 code; `None` when nothing was said.
    pub language: Option<String>,
    /// How sure the model was of `language` (detected languages only).
    pub language_probability: Option<f32>,
    /// Seconds of audio.
    pub duration: f64,
    pub segments: Vec<Segment>,
}

/// A stretch of speech. Times are seconds on the source's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    pub id: usize,
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// `S1`, `S2`... once speakers are known.
    pub speaker: Option<String>,
    /// Mean token probability, 0-1.
    pub confidence: f32,
    pub words: Vec<Word>,
    /// When a person last corrected the text; absent for the model's own
    /// (and so always absent in `transcript.json`, which keeps what the
    /// model heard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
}

/// One word; every word lies inside a speech interval of `silences.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// 0-1.
    pub probability: f32,
    pub speaker: Option<String>,
}

/// A stored segment whose words do not read: only a bug writes one, since
/// the worker and the API's corrections both write [`Word`]s.
#[derive(Debug, thiserror::Error)]
#[error("segment {segment}'s words do not read: {source}")]
pub struct BadRow {
    pub segment: i32,
    pub source: serde_json::Error,
}

impl Segment {
    pub fn from_row(row: transcript_segment::Model) -> Result<Segment, BadRow> {
        let words = serde_json::from_value(row.words).map_err(|source| BadRow {
            segment: row.idx,
            source,
        })?;
        Ok(Segment {
            id: usize::try_from(row.idx).unwrap_or_default(),
            start: row.start,
            end: row.end,
            text: row.text,
            speaker: row.speaker,
            confidence: row.confidence,
            words,
            edited_at: row.edited_at,
        })
    }
}

impl Transcript {
    /// The stored transcript (`queries::transcripts::get`), corrections
    /// included.
    pub fn from_rows(
        meta: transcript::Model,
        rows: Vec<transcript_segment::Model>,
    ) -> Result<Transcript, BadRow> {
        Ok(Transcript {
            version: FORMAT_VERSION,
            model: meta.model,
            language: meta.language,
            language_probability: meta.language_probability,
            duration: meta.duration,
            segments: rows
                .into_iter()
                .map(Segment::from_row)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The rows that store this transcript for `job_id`
    /// (`queries::transcripts::replace`).
    pub fn rows(
        &self,
        tenant_id: Uuid,
        job_id: Uuid,
        now: DateTime<Utc>,
    ) -> (transcript::Model, Vec<transcript_segment::Model>) {
        let meta = transcript::Model {
            job_id,
            tenant_id,
            model: self.model.clone(),
            language: self.language.clone(),
            language_probability: self.language_probability,
            duration: self.duration,
            created_at: now,
        };
        let segments = self
            .segments
            .iter()
            .map(|s| transcript_segment::Model {
                id: Uuid::now_v7(),
                tenant_id,
                job_id,
                idx: i32::try_from(s.id).unwrap_or(i32::MAX),
                start: s.start,
                end: s.end,
                text: s.text.clone(),
                speaker: s.speaker.clone(),
                confidence: s.confidence,
                words: serde_json::to_value(&s.words).expect("words are plain data"),
                edited_at: s.edited_at,
            })
            .collect();
        (meta, segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            version: FORMAT_VERSION,
            model: "tiny.en".into(),
            language: Some("en".into()),
            language_probability: None,
            duration: 3.5,
            segments: vec![Segment {
                id: 0,
                start: 0.5,
                end: 1.25,
                text: " Hello there.".into(),
                speaker: Some("S1".into()),
                confidence: 0.9,
                words: vec![Word {
                    start: 0.5,
                    end: 1.25,
                    text: " Hello".into(),
                    probability: 0.75,
                    speaker: Some("S1".into()),
                }],
                edited_at: None,
            }],
        }
    }

    /// What the worker stores reads back the same, and an uncorrected
    /// segment's JSON has no `edited_at`.
    #[test]
    fn rows_read_back() {
        let t = sample();
        let (meta, rows) = t.rows(Uuid::nil(), Uuid::nil(), Utc::now());
        assert_eq!(Transcript::from_rows(meta, rows).unwrap(), t);
        let json = serde_json::to_value(&t.segments[0]).unwrap();
        assert!(json.get("edited_at").is_none(), "{json}");
    }

    #[test]
    fn a_row_whose_words_do_not_read_is_an_error() {
        let (meta, mut rows) = sample().rows(Uuid::nil(), Uuid::nil(), Utc::now());
        rows[0].words = serde_json::json!([{"start": "soon"}]);
        let err = Transcript::from_rows(meta, rows).unwrap_err();
        assert_eq!(err.segment, 0);
    }
}

//! Transcripts: a job's, and search across the tenant's.

use std::collections::BTreeMap;

use axum::{http::header, response::IntoResponse};
use cutroom_core::{
    queries::{self, speakers},
    subtitles::{self, Cue},
    transcript::{Segment, Word},
};
use cutroom_entities::{transcript, transcript_segment};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path, Query},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_transcript))
        .routes(routes!(get_captions))
        .routes(routes!(correct_segment))
        .routes(routes!(search))
}

/// What was said, segment by segment and word by word. The same content as
/// the job's `transcript.json` output.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    pub job_id: Uuid,
    /// `tiny.en` or `base`.
    pub model: String,
    /// ISO 639-1 code; null when nothing was said.
    pub language: Option<String>,
    /// How sure the model was of a detected language (0-1).
    pub language_probability: Option<f32>,
    /// Seconds of audio.
    pub duration: f64,
    pub segments: Vec<Segment>,
    /// The speaker library's names for the segments' speaker labels, as
    /// they are now: `{"S1": "Ada Lovelace"}`. Unknown voices are absent.
    pub speaker_names: BTreeMap<String, String>,
}

impl Transcript {
    fn from_rows(
        meta: transcript::Model,
        rows: Vec<transcript_segment::Model>,
        speaker_names: BTreeMap<String, String>,
    ) -> Result<Self, ApiError> {
        let job_id = meta.job_id;
        let t = cutroom_core::transcript::Transcript::from_rows(meta, rows)
            .map_err(ApiError::internal)?;
        Ok(Self {
            job_id,
            model: t.model,
            language: t.language,
            language_probability: t.language_probability,
            duration: t.duration,
            segments: t.segments,
            speaker_names,
        })
    }
}

/// Longest corrected segment text, in characters.
const MAX_SEGMENT_TEXT: usize = 2000;

/// A correction of one segment's text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentCorrection {
    /// The segment's right text (1-2000 characters).
    #[schema(example = "We shipped the new release on Tuesday.")]
    pub text: String,
}

/// Corrects what a segment says. The words keep their times when their
/// number is unchanged; otherwise the new words share the segment's
/// spoken span in proportion to their length. Captions of clips rendered
/// from now on use the corrected text; the job's `transcript.json` output
/// keeps what the model heard.
#[utoipa::path(
    patch, path = "/v1/jobs/{id}/transcript/segments/{segment}", tag = "transcripts",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Job id"),
        ("segment" = i32, Path, description = "The segment's `id` in the transcript"),
    ),
    request_body = SegmentCorrection,
    responses(
        (status = 200, description = "The corrected segment", body = Segment),
        (status = 403, description = "`forbidden`: viewers cannot correct transcripts", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such job, transcript or segment", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: empty or too long text", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn correct_segment(
    state: AppState,
    ctx: AuthContext,
    Path((id, segment)): Path<(Uuid, i32)>,
    Json(body): Json<SegmentCorrection>,
) -> Result<Json<Segment>, ApiError> {
    ctx.require_write()?;
    let text = body.text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() || text.chars().count() > MAX_SEGMENT_TEXT {
        return Err(ApiError::validation(format!(
            "text must be 1 to {MAX_SEGMENT_TEXT} characters"
        )));
    }
    let row = queries::transcripts::segment(&state.db.orm, ctx.tenant_id, id, segment)
        .await?
        .ok_or_else(|| ApiError::not_found("segment"))?;
    let old: Vec<Word> = serde_json::from_value(row.words.clone()).unwrap_or_default();
    let words = retime(&old, &text, (row.start, row.end), row.speaker.as_deref());
    let words = serde_json::to_value(words).expect("words are plain data");
    let row = queries::transcripts::correct_segment(&state.db.orm, row, text, words).await?;
    Ok(Json(Segment::from_row(row).map_err(ApiError::internal)?))
}

/// Words for the corrected `text`: the old words' times, one for one, when
/// their number matches; otherwise the old words' span (or the segment's,
/// when it had none) shared out in proportion to each word's length.
fn retime(old: &[Word], text: &str, segment: (f64, f64), speaker: Option<&str>) -> Vec<Word> {
    let new: Vec<&str> = text.split_whitespace().collect();
    if new.len() == old.len() {
        return old
            .iter()
            .zip(new)
            .map(|(w, t)| Word {
                start: w.start,
                end: w.end,
                text: t.to_owned(),
                probability: if w.text.trim() == t {
                    w.probability
                } else {
                    1.0
                },
                speaker: w.speaker.clone(),
            })
            .collect();
    }
    let (from, to) = match (old.first(), old.last()) {
        (Some(a), Some(b)) if b.end > a.start => (a.start, b.end),
        _ => segment,
    };
    let weights: Vec<f64> = new.iter().map(|t| t.chars().count() as f64 + 1.0).collect();
    let total: f64 = weights.iter().sum();
    let mut at = from;
    new.iter()
        .zip(weights)
        .map(|(t, w)| {
            let start = at;
            at += (to - from) * w / total;
            Word {
                start,
                end: at,
                text: (*t).to_owned(),
                probability: 1.0,
                speaker: speaker.map(str::to_owned),
            }
        })
        .collect()
}

/// A job's transcript, once its transcription stage has run.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/transcript", tag = "transcripts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The transcript", body = Transcript),
        (status = 404, description = "`not_found`: no such job, or it has no transcript yet", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_transcript(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<Transcript>, ApiError> {
    let (meta, rows) = queries::transcripts::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let names = speaker_names(&state, &ctx, id).await?;
    Ok(Json(Transcript::from_rows(meta, rows, names)?))
}

/// `label -> name` for a job's named speakers.
async fn speaker_names(
    state: &AppState,
    ctx: &AuthContext,
    job_id: Uuid,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(speakers::names(&state.db.orm, ctx.tenant_id, &[job_id])
        .await?
        .into_iter()
        .map(|((_, label), (_, name))| (label, name))
        .collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaptionQuery {
    /// `srt` (default) or `vtt`.
    pub format: Option<String>,
}

/// The transcript as SubRip or WebVTT captions, each cue led by its
/// speaker: the library's name for them as it is now, else their label
/// (`[S2]`). The job's `transcript.srt`/`.vtt` outputs keep the labels
/// and names known when the job ran.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/transcript/captions", tag = "transcripts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id"), CaptionQuery),
    responses(
        (status = 200, description = "The captions", content(
            (String = "application/x-subrip"),
            (String = "text/vtt"),
        )),
        (status = 404, description = "`not_found`: no such job, or it has no transcript yet", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: an unknown format", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_captions(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Query(query): Query<CaptionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let vtt = match query.format.as_deref().unwrap_or("srt") {
        "srt" => false,
        "vtt" => true,
        _ => return Err(ApiError::validation("format must be srt or vtt")),
    };
    let (meta, rows) = queries::transcripts::get(&state.db.orm, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let names = speaker_names(&state, &ctx, id).await?;
    let t =
        cutroom_core::transcript::Transcript::from_rows(meta, rows).map_err(ApiError::internal)?;
    let cues: Vec<Cue> = t
        .segments
        .iter()
        .map(|s| Cue {
            start: s.start,
            end: s.end,
            text: match &s.speaker {
                Some(l) => format!("[{}] {}", names.get(l).unwrap_or(l), s.text),
                None => s.text.clone(),
            },
        })
        .collect();
    let (body, content_type) = if vtt {
        (subtitles::vtt(&cues), "text/vtt; charset=utf-8")
    } else {
        (subtitles::srt(&cues), "application/x-subrip; charset=utf-8")
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words that must all appear in a segment (case-insensitive). May be
    /// left out when `speaker` is given.
    pub q: Option<String>,
    /// Only what this library speaker said, in any job they were named in.
    pub speaker: Option<Uuid>,
    /// At most this many hits, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
}

/// A segment that matched: where it is and what it says.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub job_id: Uuid,
    pub segment_id: i32,
    /// Seconds on the source's timeline.
    pub start: f64,
    pub end: f64,
    /// The job's speaker label (`S1`).
    pub speaker: Option<String>,
    /// The library speaker, when the voice is named.
    pub speaker_id: Option<Uuid>,
    pub speaker_name: Option<String>,
    /// The segment's text.
    pub snippet: String,
}

/// Search the tenant's transcripts, newest jobs first: segments with all
/// the words of `q`, said by `speaker` when given ("where does this
/// person talk about that"). Each hit's `start`/`end` is a clip-ready
/// range: `POST /v1/jobs/{job_id}/clips` with `{"ranges": [{"start",
/// "end"}]}` renders it.
#[utoipa::path(
    get, path = "/v1/search", tag = "transcripts", security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, description = "Matching segments", body = SearchResults),
        (status = 404, description = "`not_found`: no such speaker", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: neither q nor speaker, or too long a query", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn search(
    state: AppState,
    ctx: AuthContext,
    Query(query): Query<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let q = query.q.as_deref().unwrap_or("").trim();
    if q.len() > 200 || (q.is_empty() && query.speaker.is_none()) {
        return Err(ApiError::validation(
            "q must have 1 to 200 characters (or give speaker)",
        ));
    }
    let limit = u64::from(query.limit.unwrap_or(20).clamp(1, 100));
    let db = &state.db.orm;
    let voices = match query.speaker {
        Some(id) => {
            speakers::get(db, ctx.tenant_id, id)
                .await?
                .ok_or_else(|| ApiError::not_found("speaker"))?;
            let mut v = speakers::appearances(db, ctx.tenant_id, id).await?;
            // The most recent jobs they were named in.
            v.truncate(MAX_SPEAKER_JOBS);
            Some(v)
        }
        None => None,
    };
    let rows = queries::transcripts::search(db, ctx.tenant_id, q, voices.as_deref(), limit).await?;
    let mut jobs: Vec<Uuid> = rows.iter().map(|r| r.job_id).collect();
    jobs.sort();
    jobs.dedup();
    let names = speakers::names(db, ctx.tenant_id, &jobs).await?;
    Ok(Json(SearchResults {
        results: rows
            .into_iter()
            .map(|r| {
                let named = r
                    .speaker
                    .as_ref()
                    .and_then(|l| names.get(&(r.job_id, l.clone())));
                SearchHit {
                    job_id: r.job_id,
                    segment_id: r.idx,
                    start: r.start,
                    end: r.end,
                    speaker_id: named.map(|n| n.0),
                    speaker_name: named.map(|n| n.1.clone()),
                    speaker: r.speaker,
                    snippet: r.text,
                }
            })
            .collect(),
    }))
}

/// Jobs of one speaker a search looks in (the most recent).
const MAX_SPEAKER_JOBS: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    fn word(start: f64, end: f64, text: &str) -> Word {
        Word {
            start,
            end,
            text: text.into(),
            probability: 0.5,
            speaker: Some("S1".into()),
        }
    }

    #[test]
    fn corrections_keep_word_times_or_share_the_span() {
        let old = [
            word(1.0, 1.5, " We"),
            word(1.5, 2.0, " shipt"),
            word(2.0, 3.0, " it"),
        ];
        let same = retime(&old, "We shipped it", (0.9, 3.1), Some("S1"));
        assert_eq!(
            same.iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(),
            [(1.0, 1.5), (1.5, 2.0), (2.0, 3.0)]
        );
        assert_eq!(same[0].probability, 0.5, "unchanged word");
        assert_eq!(same[1].probability, 1.0, "corrected word");
        let more = retime(&old, "We shipped it today", (0.9, 3.1), Some("S1"));
        assert_eq!(more.len(), 4);
        assert_eq!(more[0].start, 1.0);
        assert!((more[3].end - 3.0).abs() < 1e-9);
        for pair in more.windows(2) {
            assert!((pair[0].end - pair[1].start).abs() < 1e-9);
        }
        // "shipped" (8 with its space) gets twice the time of "it" (3)... roughly.
        assert!(more[1].end - more[1].start > 2.0 * (more[2].end - more[2].start));
        let none = retime(&[], "Hello", (4.0, 5.0), None);
        assert_eq!((none[0].start, none[0].end), (4.0, 5.0));
    }
}

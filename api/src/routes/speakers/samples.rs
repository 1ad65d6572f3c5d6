//! Samples of a speaker's voice, taken from jobs' kept voiceprints, and
//! who speaks in a job.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use cutroom_core::{
    config::SpeakerModel,
    queries::{self, speakers as library},
    voiceprints::{self, Refusal, Thresholds},
};
use cutroom_entities::{job_speaker, speaker_sample};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::find;
use crate::ProblemCode;
use crate::{
    app::AppState,
    auth::AuthContext,
    error::ApiError,
    extract::{Json, Path},
    submit,
    views::Job,
};

/// Most time ranges one sample is taken from.
const MAX_RANGES: usize = 50;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_samples, add_sample))
        .routes(routes!(delete_sample))
        .routes(routes!(job_speakers))
}

/// Where a new sample's voice comes from: one of a finished job's
/// speakers (`job_id` + `speaker`), time ranges of a finished job
/// (`job_id` + `ranges`: its speakers' kept segments that the ranges
/// overlap; they must be one voice), or an uploaded file of one person
/// speaking (`upload_id` alone: `POST /v1/uploads`, `PUT` the file, then
/// this; 5-120 s of speech, the file at most 130 s).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSampleRequest {
    pub job_id: Option<Uuid>,
    /// The job's speaker label, `S1`, `S2`...
    #[schema(example = "S2")]
    pub speaker: Option<String>,
    /// `[start, end]` seconds on the job's source (at most 50).
    #[schema(example = json!([[12.0, 31.5]]))]
    pub ranges: Option<Vec<[f64; 2]>>,
    /// A pending upload whose file has been `PUT`: a job enrols it (202).
    pub upload_id: Option<Uuid>,
}

/// One enrolled sample of a voice.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sample {
    pub id: Uuid,
    pub speaker_id: Uuid,
    /// The speaker model that made its embedding: `campplus` or `dvector`.
    /// Jobs are matched against samples of their own model.
    pub model: String,
    /// Seconds of speech it was made from (at most 120).
    pub seconds: f64,
    /// `job_speaker`, `job_ranges` or `upload` (then `job_id` is the job
    /// that enrolled the uploaded file).
    pub source: String,
    pub job_id: Option<Uuid>,
    /// The job's speaker label it was taken from.
    pub label: Option<String>,
    #[schema(value_type = Option<Vec<Vec<f64>>>)]
    pub ranges: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SampleList {
    pub items: Vec<Sample>,
}

/// One diarized speaker of a job and who the library says they are.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSpeaker {
    /// `S1`, `S2`... as in the transcript.
    pub label: String,
    /// Seconds of speech.
    pub seconds: f64,
    /// The library speaker; `null` while unknown.
    pub speaker_id: Option<Uuid>,
    /// Their name; `null` while unknown.
    pub name: Option<String>,
    /// `voice` (the library recognised them) or `enrolment` (a person
    /// enrolled this very speaker); `null` while unknown.
    pub named_by: Option<String>,
    /// For `voice`: share of the speaker's segments (0-1) whose nearest
    /// enrolled sample is the named person's.
    pub confidence: Option<f32>,
    /// For `voice`: cosine of the speaker's voice to the named person's.
    pub similarity: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobSpeakerList {
    pub job_id: Uuid,
    /// The speaker model of the job's voiceprints.
    pub model: Option<String>,
    pub speakers: Vec<JobSpeaker>,
    /// True while the tenant's past jobs are being named again after a
    /// change to the library: these names may still change.
    pub relabelling: bool,
}

impl From<speaker_sample::Model> for Sample {
    fn from(s: speaker_sample::Model) -> Self {
        Sample {
            id: s.id,
            speaker_id: s.speaker_id,
            model: s.model,
            seconds: s.seconds,
            source: s.source,
            job_id: s.job_id,
            label: s.label,
            ranges: s.ranges,
            created_at: s.created_at,
        }
    }
}

/// The samples of a speaker's voice, oldest first.
#[utoipa::path(
    get, path = "/v1/speakers/{id}/samples", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Speaker id")),
    responses(
        (status = 200, description = "The samples (without their embeddings)", body = SampleList),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn list_samples(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<SampleList>, ApiError> {
    find(&state, &ctx, id).await?;
    let items = library::samples(&state.db.orm, ctx.tenant_id, id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(SampleList { items }))
}

fn refused(r: Refusal) -> ApiError {
    let code = match r {
        Refusal::TooShort { .. } => ProblemCode::SampleTooShort,
        Refusal::Noisy { .. } => ProblemCode::SampleTooNoisy,
        Refusal::SeveralSpeakers(_) => ProblemCode::SeveralSpeakers,
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, r.to_string())
}

/// Enrol a sample of this speaker's voice: one of a finished job's
/// diarized speakers (`job_id` + `speaker`) or time ranges of it
/// (`job_id` + `ranges`), answered at once (201); or an uploaded file
/// (`upload_id`), which a job enrols (202: the job, queued; its
/// `error.code` says why a sample was refused). A sample needs 5 s of
/// speech of one clean voice. Enrolling a job's speaker also names them in
/// that job at once; every other job is matched again in the background
/// (`relabelling` in `GET /v1/speakers`).
#[utoipa::path(
    post, path = "/v1/speakers/{id}/samples", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Speaker id")),
    request_body = AddSampleRequest,
    responses(
        (status = 201, description = "Enrolled from a job", body = Sample),
        (status = 202, description = "An uploaded sample: the job that enrols it, queued. It ends `succeeded` with the sample added, or `failed` with `sample_too_short`, `sample_too_long`, `sample_too_noisy`, `several_speakers` or `speaker_deleted`", body = Job),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such speaker, job, upload, or speaker label in the job", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`job_not_finished`: the job has no voiceprints yet; `upload_missing`, `upload_in_progress`, `conflict`: as for `POST /v1/uploads/{id}/complete`", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`sample_too_short`, `sample_too_noisy`, `several_speakers`, `upload_size_mismatch`, `validation_failed`", body = ApiError, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`; `quota_exceeded`: an uploaded sample counts towards the monthly media minutes; or `budget_exceeded` (`Retry-After`: seconds until the month ends)", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn add_sample(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
    Json(req): Json<AddSampleRequest>,
) -> Result<Response, ApiError> {
    ctx.require_write()?;
    find(&state, &ctx, id).await?;
    match req {
        AddSampleRequest {
            upload_id: Some(upload),
            job_id: None,
            speaker: None,
            ranges: None,
        } => {
            let job = submit::enrolment(&state, &ctx, upload, id).await?;
            tracing::info!(speaker.id = %id, job.id = %job.id, upload.id = %upload, "voice sample uploaded");
            Ok((StatusCode::ACCEPTED, Json(Job::load(&state, job).await?)).into_response())
        }
        AddSampleRequest {
            upload_id: None,
            job_id: Some(job_id),
            speaker,
            ranges,
        } => {
            let sample = from_job(&state, &ctx, id, job_id, speaker, ranges).await?;
            Ok((StatusCode::CREATED, Json(sample)).into_response())
        }
        _ => Err(ApiError::validation(
            "give job_id with speaker (a label such as S2) or with ranges, or upload_id alone",
        )),
    }
}

/// A sample from a finished job's kept voiceprints.
async fn from_job(
    state: &AppState,
    ctx: &AuthContext,
    id: Uuid,
    job_id: Uuid,
    speaker: Option<String>,
    ranges: Option<Vec<[f64; 2]>>,
) -> Result<Sample, ApiError> {
    let db = &state.db.orm;
    queries::jobs::get(db, ctx.tenant_id, job_id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rows = library::job_speakers(db, ctx.tenant_id, job_id).await?;
    if rows.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::JobNotFinished,
            "the job has no speakers yet: its speakers stage has not run",
        ));
    }
    let prints: Vec<(job_speaker::Model, voiceprints::Voiceprint)> = rows
        .into_iter()
        .filter_map(|r| library::voiceprint(&r).map(|v| (r, v)))
        .collect();
    let Some(model) = prints.first().map(|(_, v)| v.model) else {
        return Err(ApiError::internal("the job's voiceprints cannot be read"));
    };
    let thresholds = Thresholds::of(model);
    let (label, voice, source, ranges, enrolled) = match (&speaker, &ranges) {
        (Some(label), None) => {
            let (row, print) = prints
                .iter()
                .find(|(r, _)| r.label == *label)
                .ok_or_else(|| ApiError::not_found("speaker label in this job"))?;
            let voice = voiceprints::sample_of_speaker(print, thresholds).map_err(refused)?;
            (
                label.clone(),
                voice,
                library::FROM_JOB_SPEAKER,
                None,
                Some(row.clone()),
            )
        }
        (None, Some(ranges)) => {
            if ranges.is_empty() || ranges.len() > MAX_RANGES {
                return Err(ApiError::validation(format!(
                    "ranges must hold 1 to {MAX_RANGES} [start, end] pairs"
                )));
            }
            if ranges
                .iter()
                .any(|[a, b]| !a.is_finite() || !b.is_finite() || *a < 0.0 || b <= a)
            {
                return Err(ApiError::validation(
                    "each range must be [start, end] seconds with 0 <= start < end",
                ));
            }
            let pairs: Vec<(f64, f64)> = ranges.iter().map(|[a, b]| (*a, *b)).collect();
            let voices: Vec<voiceprints::Voiceprint> =
                prints.iter().map(|(_, v)| v.clone()).collect();
            let (label, voice) =
                voiceprints::sample_of_ranges(&voices, &pairs, thresholds).map_err(refused)?;
            (
                label,
                voice,
                library::FROM_JOB_RANGES,
                Some(serde_json::json!(ranges)),
                None,
            )
        }
        _ => {
            return Err(ApiError::validation(
                "give either speaker (a label such as S2) or ranges, not both",
            ));
        }
    };
    let tx = cutroom_core::db::begin_write(db).await?;
    // The speaker may have been deleted meanwhile.
    library::get(&tx, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("speaker"))?;
    let sample = library::insert_sample(
        &tx,
        speaker_sample::Model {
            id: Uuid::now_v7(),
            tenant_id: ctx.tenant_id,
            speaker_id: id,
            model: model.as_str().to_owned(),
            seconds: voice.seconds,
            embedding: voiceprints::to_bytes(&voice.embedding),
            source: source.to_owned(),
            job_id: Some(job_id),
            label: Some(label),
            ranges,
            created_at: Utc::now(),
        },
    )
    .await?;
    if let Some(row) = enrolled {
        library::assign(&tx, row, id).await?;
    }
    library::changed(&tx, ctx.tenant_id).await?;
    tx.commit().await?;
    tracing::info!(speaker.id = %id, sample.id = %sample.id, "speaker sample enrolled");
    Ok(sample.into())
}

/// Remove one sample of a speaker's voice; jobs are matched again without
/// it, in the background.
#[utoipa::path(
    delete, path = "/v1/speakers/{id}/samples/{sample_id}", tag = "speakers", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Speaker id"),
        ("sample_id" = Uuid, Path, description = "Sample id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`forbidden`: viewers cannot change the library", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn delete_sample(
    state: AppState,
    ctx: AuthContext,
    Path((id, sample_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    ctx.require_write()?;
    let tx = cutroom_core::db::begin_write(&state.db.orm).await?;
    if !library::delete_sample(&tx, ctx.tenant_id, id, sample_id).await? {
        return Err(ApiError::not_found("sample"));
    }
    library::changed(&tx, ctx.tenant_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who speaks in a job: its diarized speakers (`S1`, `S2`...) with the
/// names the library gives them now.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/speakers", tag = "speakers", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job's speakers; empty before its speakers stage", body = JobSpeakerList),
        (status = 404, description = "`not_found`: no such job", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn job_speakers(
    state: AppState,
    ctx: AuthContext,
    Path(id): Path<Uuid>,
) -> Result<Json<JobSpeakerList>, ApiError> {
    let db = &state.db.orm;
    queries::jobs::get(db, ctx.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let rows = library::job_speakers(db, ctx.tenant_id, id).await?;
    let names = library::names(db, ctx.tenant_id, &[id]).await?;
    let model = rows
        .first()
        .and_then(|r| r.model.parse::<SpeakerModel>().ok())
        .map(|m| m.as_str().to_owned());
    let speakers = rows
        .into_iter()
        .map(|r| {
            let name = names.get(&(id, r.label.clone())).map(|(_, n)| n.clone());
            JobSpeaker {
                label: r.label,
                seconds: r.seconds,
                speaker_id: r.speaker_id,
                name,
                named_by: r.named_by,
                confidence: r.agreement,
                similarity: r.similarity,
            }
        })
        .collect();
    let relabelling = library::relabelling(db, ctx.tenant_id).await?;
    Ok(Json(JobSpeakerList {
        job_id: id,
        model,
        speakers,
        relabelling,
    }))
}

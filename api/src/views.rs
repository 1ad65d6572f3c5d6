//! Response types for jobs, shared by the job and upload routes. They are
//! built from entities but are not entities: the wire format changes only on
//! purpose.

use chrono::{DateTime, Utc};
use cutroom_core::jobs::ModelUse;
use cutroom_entities::{JobStatus, SourceType, artifact, job, job_event};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{app::App, error::ApiError};

/// A job without its outputs, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSummary {
    pub id: Uuid,
    pub status: JobStatus,
    /// The pipeline stage running now (or last run), e.g. `silence`.
    pub stage: Option<String>,
    /// 0 to 100.
    pub progress: i32,
    /// Queued behind the tenant's own jobs: as many as one tenant may have
    /// with the workers (`CUTROOM_TENANT_MAX_RUNNING`) are there already.
    /// It goes to the workers, oldest first, as soon as one of them ends.
    pub waiting_for_slot: bool,
    /// How many times a worker has started the job (at most
    /// `CUTROOM_JOB_MAX_ATTEMPTS`; each `running` event in its history
    /// says which attempt it was, and how each one ended).
    pub attempts: i32,
    /// After a failure that may pass: queued again, and waiting until
    /// then before it goes back to the workers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    pub source: JobSource,
    /// A name for people: the uploaded file's name (a re-render keeps its
    /// parent's); `null` for a URL's job.
    pub title: Option<String>,
    #[schema(value_type = cutroom_core::jobs::JobOptions)]
    pub options: serde_json::Value,
    /// Set when the job failed or was cancelled.
    pub error: Option<JobError>,
    /// What probing found: duration, container, streams. For a video link
    /// also `download`: what yt-dlp fetched (`format_id`, `max_height`
    /// asked for, `audio_only`, and per format its id, resolution, codecs
    /// and bit rates), which says why a clip is no sharper than it is.
    #[schema(value_type = Option<Object>)]
    pub media: Option<serde_json::Value>,
    /// Hours the source is kept after the job succeeds, for re-renders.
    pub keep_source_hours: i32,
    /// While the source is kept: when it will be deleted. Re-render before
    /// then (`POST /v1/jobs/{id}/clips`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_kept_until: Option<DateTime<Utc>>,
    /// For a re-render: the job it renders from...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// ...and the ranges it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<cutroom_core::clips::ClipRange>>)]
    pub ranges: Option<serde_json::Value>,
    /// For a job that enrols an uploaded voice sample: the library speaker
    /// it is for (`POST /v1/speakers/{id}/samples` with `upload_id`). It
    /// runs only fetch, probe, audio, silence and speakers; the sample is
    /// in the speaker's samples once it succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrols_speaker_id: Option<Uuid>,
    /// For the job that unpacks a batch's archive: the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpacks_batch_id: Option<Uuid>,
    /// For a child of a batch: the batch...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    /// ...the file of its archive the job was made from...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_path: Option<String>,
    /// ...and the metadata row that names the file (by its stem in the
    /// batch's key column), `null` when no row does.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A job with its outputs and their download links.
#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    #[serde(flatten)]
    pub summary: JobSummary,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobSource {
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// For `youtube`: the URL as accepted (normalised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `upload`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobError {
    /// Stable: `source_unavailable`, `unsupported_media`, `cancelled`, ...
    pub code: String,
    pub message: String,
}

/// One output file.
#[derive(Debug, Serialize, ToSchema)]
pub struct Output {
    /// e.g. `silences.json`.
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex digest of the content, to check a download.
    pub sha256: String,
    /// The model files that produced this output (empty when none did).
    pub models: Vec<ModelUse>,
    /// A presigned `GET` URL, valid until `url_expires_at`.
    pub url: String,
    pub url_expires_at: DateTime<Utc>,
}

/// One entry of a job's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobEvent {
    pub id: Uuid,
    /// `queued`, `started`, `stage_started`, `stage_finished`, `succeeded`, `failed`, ...
    pub kind: String,
    pub stage: Option<String>,
    pub message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<job::Model> for JobSummary {
    fn from(j: job::Model) -> Self {
        let error = j.error_code.map(|code| JobError {
            code,
            message: j.error_message.unwrap_or_default(),
        });
        JobSummary {
            id: j.id,
            status: j.status,
            stage: j.stage,
            progress: j.progress,
            waiting_for_slot: j.status == JobStatus::Queued
                && j.dispatched_at.is_none()
                && j.retry_at.is_none_or(|at| at <= Utc::now()),
            attempts: j.attempts,
            retry_at: j.retry_at.filter(|_| j.status == JobStatus::Queued),
            source: JobSource {
                kind: j.source_type,
                url: j.source_url,
                upload_id: j.upload_id,
            },
            title: j.title,
            options: j.options,
            error,
            media: j.media,
            keep_source_hours: j.keep_source_hours,
            source_kept_until: j.kept_source_key.and(j.kept_source_until),
            parent_id: j.parent_id,
            ranges: j.clip_ranges,
            enrols_speaker_id: j.enrols_speaker_id,
            unpacks_batch_id: j.unpacks_batch_id,
            batch_id: j.batch_id,
            entry_path: j.entry_path,
            metadata: j.metadata,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            updated_at: j.updated_at,
        }
    }
}

impl From<job_event::Model> for JobEvent {
    fn from(e: job_event::Model) -> Self {
        JobEvent {
            id: e.id,
            kind: e.kind,
            stage: e.stage,
            message: e.message,
            data: e.data,
            created_at: e.created_at,
        }
    }
}

impl Job {
    /// Adds the outputs, each with a fresh short-lived download URL.
    pub async fn load(app: &App, j: job::Model) -> Result<Job, ApiError> {
        let artifacts =
            cutroom_core::queries::artifacts::list(&app.db.orm, j.tenant_id, j.id).await?;
        let mut outputs = Vec::with_capacity(artifacts.len());
        // A clip's files are listed with the clip (`GET /v1/jobs/{id}/clips`),
        // which withholds their URLs while moderation holds it.
        for a in artifacts
            .into_iter()
            .filter(|a| !a.name.starts_with(CLIP_FILES))
        {
            outputs.push(output(app, a).await?);
        }
        Ok(Job {
            summary: j.into(),
            outputs,
        })
    }
}

/// Where a job's clip files are named (`clips/01/vertical.mp4`).
const CLIP_FILES: &str = "clips/";

async fn output(app: &App, a: artifact::Model) -> Result<Output, ApiError> {
    let get = app
        .store
        .presign_get(&a.object_key, app.config.download_url_ttl)
        .await?;
    Ok(Output {
        name: a.name,
        content_type: a.content_type,
        size_bytes: a.size_bytes,
        sha256: a.sha256,
        // Written by the worker from this same type; an unreadable value
        // (another version's) shows as none rather than failing the job view.
        models: a
            .models
            .and_then(|m| serde_json::from_value(m).ok())
            .unwrap_or_default(),
        url: get.url,
        url_expires_at: get.expires_at,
    })
}

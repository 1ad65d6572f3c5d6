use sea_orm::entity::prelude::*;

use crate::{JobStatus, SourceType};

/// One video through the pipeline.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
// Not `jobs`: on SQLite that is apalis' queue table (names ignore case).
#[sea_orm(table_name = "processing_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub source_type: SourceType,
    /// The accepted YouTube (or configured extra host) URL.
    pub source_url: Option<String>,
    pub upload_id: Option<Uuid>,
    /// A name for people: the uploaded file's name (a re-render keeps its
    /// parent's). `None` for URL jobs and jobs older than the column.
    pub title: Option<String>,
    /// Storage key of the uploaded original, until the job ends and it is
    /// deleted.
    pub source_key: Option<String>,
    /// Per-job pipeline options (JSON of `cutroom_core::jobs::JobOptions`).
    pub options: Json,
    pub status: JobStatus,
    pub stage: Option<String>,
    pub progress: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub cancel_requested: bool,
    /// Probe result: duration, container, streams.
    pub media: Option<Json>,
    /// `user:<id>` or `api_key:<id>`.
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// For a re-render: the job whose kept source it renders from.
    pub parent_id: Option<Uuid>,
    /// Hours the source is kept after the job succeeds, for re-renders (0-168).
    pub keep_source_hours: i32,
    /// Storage key of the kept source (`kept/...`), while it is kept.
    pub kept_source_key: Option<String>,
    /// When the sweeper deletes the kept source.
    pub kept_source_until: Option<DateTimeUtc>,
    /// For a re-render: the ranges asked for (JSON of
    /// `Vec<cutroom_core::jobs::ClipRange>`).
    pub clip_ranges: Option<Json>,
    /// When the job was handed to the workers' queue; `None` while it
    /// waits for one of its tenant's slots (`CUTROOM_TENANT_MAX_RUNNING`).
    pub dispatched_at: Option<DateTimeUtc>,
    /// How many times a worker has started the job.
    pub attempts: i32,
    /// After a failure that may pass (a broken download, a storage
    /// outage), the job waits until then before it is handed out again.
    pub retry_at: Option<DateTimeUtc>,
    /// For a job that enrols an uploaded voice sample: the library speaker
    /// it is for. It runs only fetch, probe, audio, silence and speakers.
    pub enrols_speaker_id: Option<Uuid>,
    /// For a job that unpacks a batch's archive: the batch.
    pub unpacks_batch_id: Option<Uuid>,
    /// For a child of a batch: the batch, and the entry of its archive the
    /// job was made from (unique within the batch, so an unpack that runs
    /// again never creates a second child for it).
    pub batch_id: Option<Uuid>,
    pub entry_path: Option<String>,
    /// A batch child's metadata row (a JSON object), queryable as
    /// `GET /v1/jobs?metadata.<field>=<value>`.
    pub metadata: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

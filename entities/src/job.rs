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
    /// Storage key of the uploaded original, until the worker deletes it.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

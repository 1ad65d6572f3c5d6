use sea_orm::entity::prelude::*;

use crate::BatchStatus;

/// An archive of recordings (`.tar`/`.tar.gz`, with parquet metadata)
/// whose every audio file becomes a child job (`processing_jobs.batch_id`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The archive's file name.
    pub name: String,
    pub status: BatchStatus,
    /// The presigned upload the archive arrives through.
    pub upload_id: Uuid,
    pub size_bytes: i64,
    /// The options (JSON of `cutroom_core::batches::BatchOptions`): the job
    /// options every child gets, the metadata key column, the Opus bitrate.
    pub options: Json,
    /// The job that unpacks the archive, once started.
    pub unpack_job_id: Option<Uuid>,
    /// Files and parquet tables unpacked, refused entries excluded; `None`
    /// until unpacked.
    pub entries_total: Option<i32>,
    /// Entries not unpacked, each `{path, reason, detail}`.
    pub refused: Json,
    /// What the metadata matching left over: `files_without_rows`,
    /// `rows_without_files`, `rows_without_key`, `duplicate_keys`.
    pub unmatched: Json,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `user:<id>` or `api_key:<id>`.
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub unpacked_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

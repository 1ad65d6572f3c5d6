use sea_orm::entity::prelude::*;

use crate::UploadStatus;

/// A file a client puts straight into object storage through a presigned URL.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub object_key: String,
    pub status: UploadStatus,
    pub expires_at: DateTimeUtc,
    pub job_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// The storage's id for a multipart upload's parts; `None` for a file
    /// sent in one `PUT`.
    pub multipart_id: Option<String>,
    /// Bytes in every part but the last, for a multipart upload.
    pub part_size: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member's (or an API key's) role inside one tenant, from most to least powerful.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[sea_orm(string_value = "viewer")]
    Viewer,
    #[sea_orm(string_value = "member")]
    Member,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "owner")]
    Owner,
}

impl Role {
    /// Viewers read; members and above create and manage jobs.
    pub fn can_write(self) -> bool {
        self >= Role::Member
    }

    /// Admins and owners manage members and API keys.
    pub fn can_admin(self) -> bool {
        self >= Role::Admin
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// As stored and as serialised (`queued`, `running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The statuses a job ends in.
    pub const TERMINAL: [JobStatus; 3] = [
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    #[sea_orm(string_value = "youtube")]
    Youtube,
    #[sea_orm(string_value = "upload")]
    Upload,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Presigned URL handed out, bytes not confirmed yet.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Object checked and a job created from it.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Never completed in time; the object (if any) was removed.
    #[sea_orm(string_value = "expired")]
    Expired,
}

/// What a moderation flag was raised on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// A transcript segment (`segment` is its id).
    #[sea_orm(string_value = "segment")]
    Segment,
    /// A highlight's title or hook (`segment` is the highlight's rank).
    #[sea_orm(string_value = "highlight")]
    Highlight,
    /// A person's correction of a transcript segment (`segment` is its
    /// id), checked when a re-render was about to caption clips with it.
    /// It holds only the re-rendered clips that show this text; what was
    /// said keeps its own `segment` flags.
    #[sea_orm(string_value = "edit")]
    Edit,
}

/// Where a flag is in review: the latest decision, or none yet.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// Waiting for a reviewer.
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

/// Where a batch (an archive of recordings, each a child job) stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Created; the archive is being uploaded (`POST /v1/batches/{id}/start`
    /// ends this).
    #[sea_orm(string_value = "uploading")]
    Uploading,
    /// Its unpack job checks the archive and creates the children.
    #[sea_orm(string_value = "unpacking")]
    Unpacking,
    /// Unpacked; children are running.
    #[sea_orm(string_value = "running")]
    Running,
    /// Every child has ended (some may have failed).
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Cancelled by a user; its children were cancelled too.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// The archive as a whole could not be used (not an archive, a bomb,
    /// too many entries); no child was created from it.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl BatchStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BatchStatus::Completed | BatchStatus::Cancelled | BatchStatus::Failed
        )
    }
}

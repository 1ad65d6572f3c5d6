use sea_orm::entity::prelude::*;

/// A worker process, as it registered itself and last reported in.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
// Not `workers`: on SQLite that is apalis' table (names ignore case).
#[sea_orm(table_name = "fleet_workers")]
pub struct Model {
    /// The worker's queue name (`cutroom-worker-{random}`), which job events show.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub host: String,
    pub pid: i32,
    /// Cutroom's version the process runs.
    pub version: String,
    pub started_at: DateTimeUtc,
    /// The last heartbeat.
    pub last_seen_at: DateTimeUtc,
    /// Set when the worker stopped cleanly.
    pub stopped_at: Option<DateTimeUtc>,
    pub current_job_id: Option<Uuid>,
    pub current_tenant_id: Option<Uuid>,
    /// When it took its current job.
    pub current_since: Option<DateTimeUtc>,
    pub jobs_succeeded: i64,
    /// Jobs it ended `failed` (retries included) or `cancelled`.
    pub jobs_failed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

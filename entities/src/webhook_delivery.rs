use sea_orm::entity::prelude::*;

/// One message to one endpoint, and every attempt to send it. The id is the
/// message's `webhook-id`, the same on every attempt and redelivery, so
/// receivers can drop duplicates.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub job_id: Option<Uuid>,
    /// The body, byte for byte as signed and sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed` (no attempts left, or the
    /// endpoint was disabled).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A sender holds the row until then.
    pub lease_until: Option<DateTimeUtc>,
    /// `[{at, status_code, error, duration_ms}]`, oldest first.
    pub log: Json,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

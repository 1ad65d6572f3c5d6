use sea_orm::entity::prelude::*;

/// Where a tenant wants its events sent, and which ones.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types sent here: `["job.succeeded", ...]`.
    pub event_types: Json,
    /// The Standard Webhooks signing secret (`whsec_...`), sealed with the
    /// tenant's id (`cutroom_core::secrets`).
    pub secret: String,
    pub enabled: bool,
    /// Why Cutroom turned it off, when it did.
    pub disabled_reason: Option<String>,
    /// When the current run of failed attempts began; `None` after a success.
    pub failing_since: Option<DateTimeUtc>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

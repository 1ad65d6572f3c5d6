use sea_orm::entity::prelude::*;

/// A person in a tenant's speaker library. Their voice is in
/// [`crate::speaker_sample`]; the jobs they were heard in point here from
/// [`crate::job_speaker`].
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "speakers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// The caller's own id for this person, unique within the tenant.
    pub external_id: Option<String>,
    /// A JSON object of the caller's.
    pub metadata: Json,
    /// Whether the person agreed to their voice being kept.
    pub consent: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// One reviewer's decision on a moderation flag. Never updated: a flag
/// decided again gets another row, so the history stays.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "review_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub flag_id: Uuid,
    pub job_id: Uuid,
    /// `approve` or `reject`.
    pub decision: String,
    /// Who decided: a person, or an API key.
    pub reviewer_user_id: Option<Uuid>,
    pub reviewer_api_key_id: Option<Uuid>,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

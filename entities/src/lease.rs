use sea_orm::entity::prelude::*;

/// Who runs a housekeeping round (`sweep`, `dispatch`) until when.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The process holding it (host, pid and a random part).
    pub holder: String,
    /// Free for anyone after this.
    pub until: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// Where a tenant's speaker library stands: every change to it bumps
/// `revision`; the relabel round names the tenant's past jobs again and
/// records the revision it named them at in `labelled`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "speaker_libraries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub revision: i64,
    pub labelled: i64,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

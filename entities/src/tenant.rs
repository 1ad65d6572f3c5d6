use sea_orm::entity::prelude::*;

/// An organisation: the unit of isolation. Every other row names one.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// The tenant's own defaults (JSON of `cutroom_core::tenants::TenantSettings`);
    /// `None` until first changed.
    pub settings: Option<Json>,
    /// Media minutes a month the operator allows this tenant; `None`: the
    /// server's default (`CUTROOM_MONTHLY_MEDIA_MINUTES`).
    pub quota_media_minutes: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// A highlight candidate of a job, as the analysis ranked it. Whether it
/// may be published follows from the moderation flags it overlaps and their
/// decisions, so it is worked out when read, not stored.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "highlights")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// 1 for the best.
    pub rank: i32,
    /// Seconds on the source's timeline; word boundaries.
    pub start: f64,
    pub end: f64,
    pub title: String,
    pub hook: String,
    /// 0-100.
    pub score: i32,
    /// `[{signal, points, detail}]`.
    pub reasons: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

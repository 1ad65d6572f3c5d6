use sea_orm::entity::prelude::*;

/// A rendered clip of a job: one range of the source in one or more
/// shapes, with its captions and thumbnail. Whether it may be downloaded
/// follows from the moderation flags over its range, worked out when read.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clips")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// 1, 2... within the job, in the order rendered.
    pub idx: i32,
    /// The highlight it was cut from, if any.
    pub highlight_rank: Option<i32>,
    /// Seconds on the source's timeline: where the cut starts and ends
    /// (word boundaries plus the room before and after).
    pub start: f64,
    pub end: f64,
    /// Seconds of the rendered clip.
    pub duration: f64,
    pub title: String,
    pub hook: String,
    /// 0-100, the highlight's.
    pub score: i32,
    /// The clip's files: `[{"kind", "format", "name"}]`, `name` being the
    /// artifact's.
    pub files: Json,
    /// Loudness, reframing and captions as rendered.
    pub details: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

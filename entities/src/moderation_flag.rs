use sea_orm::entity::prelude::*;

/// Text on which a job's moderation policy fired (a transcript segment,
/// or a highlight's title or hook): one item of the tenant's review queue.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "moderation_flags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// `segment`: a transcript segment; `highlight`: a highlight's title or
    /// hook; `edit`: a person's correction of a segment, checked by a
    /// re-render (several per segment, one per text).
    pub kind: crate::FlagKind,
    /// The transcript segment's position, or the highlight's rank.
    pub segment: i32,
    /// Seconds on the source's timeline.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub speaker: Option<String>,
    /// Every covered category's score: `[{category, score}]`.
    pub scores: Json,
    /// The rules that fired: `[{category, score, threshold, action}]`.
    pub fired: Json,
    /// The names of the categories that fired, comma-separated with a comma
    /// at each end (`,hate,violence,`), so `LIKE '%,hate,%'` filters on
    /// PostgreSQL and SQLite alike.
    pub categories: String,
    /// The strongest action that fired: `flag` or `block`.
    pub action: String,
    /// The highest score among the rules that fired.
    pub max_score: f32,
    /// The latest decision, or none yet.
    pub status: crate::FlagStatus,
    pub created_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

/// One segment of a transcript, with its words as JSON
/// (`[{start, end, text, probability, speaker}]`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transcript_segments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// Position in the transcript, from 0.
    pub idx: i32,
    /// Seconds on the source's timeline.
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub speaker: Option<String>,
    pub confidence: f32,
    pub words: Json,
    /// When a person last corrected `text` (through the API); `None` for
    /// the model's own.
    pub edited_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

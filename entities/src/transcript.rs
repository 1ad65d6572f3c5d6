use sea_orm::entity::prelude::*;

/// What produced a job's transcript; its segments are in
/// [`crate::transcript_segment`].
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "transcripts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    pub tenant_id: Uuid,
    /// `tiny.en` or `base`.
    pub model: String,
    pub language: Option<String>,
    pub language_probability: Option<f32>,
    /// Seconds of audio.
    pub duration: f64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

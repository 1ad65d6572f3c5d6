use sea_orm::entity::prelude::*;

/// One enrolled stretch of a speaker's voice: its embedding and where it
/// came from.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "speaker_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub speaker_id: Uuid,
    /// The speaker model that made the embedding: `campplus` or `dvector`.
    pub model: String,
    /// Seconds of speech the embedding is the mean of.
    pub seconds: f64,
    /// Unit-length `f32`s, little-endian (`cutroom_core::voiceprints`).
    pub embedding: Vec<u8>,
    /// `job_speaker` (a job's diarized speaker) or `job_ranges` (time
    /// ranges of a job).
    pub source: String,
    pub job_id: Option<Uuid>,
    /// The job's speaker label the sample was taken from (`S2`).
    pub label: Option<String>,
    /// `[[start, end], ...]` seconds, for `job_ranges`.
    pub ranges: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

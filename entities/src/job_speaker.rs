use sea_orm::entity::prelude::*;

/// One diarized speaker of a job (`S1`, `S2`...): the voiceprint the job
/// keeps of them and who the library says they are.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_speakers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub label: String,
    /// `campplus` or `dvector`.
    pub model: String,
    /// Seconds of speech.
    pub seconds: f64,
    /// Unit mean of the speaker's window embeddings (`f32`s, little-endian).
    pub centroid: Vec<u8>,
    /// `[{start, end, speech}]`, one per kept segment, in time order.
    pub segments: Json,
    /// The segments' embeddings, one after another, in the same order.
    pub segment_embeddings: Vec<u8>,
    /// The library speaker, when named.
    pub speaker_id: Option<Uuid>,
    /// Cosine of the centroid to the best library speaker's centre.
    pub similarity: Option<f32>,
    /// Share of segment speech whose nearest sample is the named speaker's.
    pub agreement: Option<f32>,
    /// `voice` (matched by the library) or `enrolment` (a person enrolled
    /// this very speaker); null while unknown.
    pub named_by: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

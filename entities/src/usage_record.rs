use sea_orm::entity::prelude::*;

/// What one stage of one job processed, for usage metering. A stage is
/// metered once per job, whichever attempt finished it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub stage: String,
    /// The model the stage ran (`whisper:base`, `gemini:gemini-2.5-flash`);
    /// `None` for stages without one.
    pub model: Option<String>,
    /// Seconds of media the stage processed: the source's duration, or for
    /// `clips` the rendered clips' total.
    pub media_seconds: f64,
    pub recorded_at: DateTimeUtc,
    /// What the stage cost in US dollars: a cloud engine's price for the
    /// audio sent, an LLM's tokens at the tenant's prices, or the worker's
    /// time at the operator's price. `None` before costs were recorded.
    pub cost_usd: Option<f64>,
    /// How the stage chose its engine and what it tried (the
    /// transcription router's `RouteReport`), when it has such a story.
    pub detail: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

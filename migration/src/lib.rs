//! Schema migrations, written once for PostgreSQL and SQLite alike.
//!
//! The queue's own tables are created by apalis, from [`up`].

pub use sea_orm_migration::prelude::*;

mod run;
pub use run::{ensure_current, pending, up};

mod m20261122_000001_foundation;
mod m20261123_000001_transcripts;
mod m20261124_000001_tenant_settings;
mod m20261124_000002_artifact_models;
mod m20261125_000001_moderation_flags;
mod m20261126_000001_clips;
mod m20261127_000001_rerender;
mod m20261128_000001_webhooks;
mod m20261128_000002_idempotency;
mod m20261129_000001_tenant_slots;
mod m20261130_000001_fleet;
mod m20261201_000001_usage;
mod m20261202_000001_job_title;
mod m20261206_000001_invitation_answers;
mod m20261206_000002_edit_flags;
mod m20261206_000003_leases;
mod m20261207_000001_speakers;
mod m20261208_000001_enrol_jobs;
mod m20261208_000002_library_rounds;
mod m20261209_000001_batches;
mod m20261210_000001_multipart_uploads;
mod m20261211_000001_usage_cost;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261123_000001_transcripts::Migration),
            Box::new(m20261124_000001_tenant_settings::Migration),
            Box::new(m20261124_000002_artifact_models::Migration),
            Box::new(m20261125_000001_moderation_flags::Migration),
            Box::new(m20261126_000001_clips::Migration),
            Box::new(m20261127_000001_rerender::Migration),
            Box::new(m20261128_000001_webhooks::Migration),
            Box::new(m20261128_000002_idempotency::Migration),
            Box::new(m20261129_000001_tenant_slots::Migration),
            Box::new(m20261130_000001_fleet::Migration),
            Box::new(m20261201_000001_usage::Migration),
            Box::new(m20261202_000001_job_title::Migration),
            Box::new(m20261206_000001_invitation_answers::Migration),
            Box::new(m20261206_000002_edit_flags::Migration),
            Box::new(m20261206_000003_leases::Migration),
            Box::new(m20261207_000001_speakers::Migration),
            Box::new(m20261208_000001_enrol_jobs::Migration),
            Box::new(m20261208_000002_library_rounds::Migration),
            Box::new(m20261209_000001_batches::Migration),
            Box::new(m20261210_000001_multipart_uploads::Migration),
            Box::new(m20261211_000001_usage_cost::Migration),
        ]
    }
}

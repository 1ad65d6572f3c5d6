//! Flags on corrected transcript text (`kind = 'edit'`): a segment may
//! have several, one for each text a re-render captioned clips with, so
//! that a clip showing an earlier text stays held by that text's flag. The
//! one-flag-per-segment rule now covers only the flags moderation raises
//! on a job's own run (`segment`, `highlight`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "ux_moderation_flags_job_segment";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One connection for the whole change: on SQLite a pooled connection
    /// that missed the drop would still see the old index when the new one
    /// is created under its name.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Plain SQL, the same on PostgreSQL and SQLite: a partial index.
        let db = m.get_connection();
        db.execute_unprepared(&format!("DROP INDEX {INDEX}"))
            .await?;
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {INDEX} ON moderation_flags \
             (tenant_id, job_id, kind, segment) WHERE kind <> 'edit'"
        ))
        .await?;
        m.create_index(
            Index::create()
                .name("ix_moderation_flags_job_edit")
                .table("moderation_flags")
                .col("tenant_id")
                .col("job_id")
                .col("segment")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX ix_moderation_flags_job_edit")
            .await?;
        db.execute_unprepared(&format!("DROP INDEX {INDEX}"))
            .await?;
        db.execute_unprepared("DELETE FROM moderation_flags WHERE kind = 'edit'")
            .await?;
        m.create_index(
            Index::create()
                .name(INDEX)
                .table("moderation_flags")
                .col("tenant_id")
                .col("job_id")
                .col("kind")
                .col("segment")
                .unique()
                .to_owned(),
        )
        .await
    }
}

//! Jobs that enrol an uploaded voice sample into the speaker library.
//!
//! Such a job's `enrols_speaker_id` names the library speaker it is for;
//! the worker runs only the stages that find and embed the speech, and
//! adds the sample when they pass. No foreign key: SQLite cannot add one
//! to an existing table, and a speaker deleted meanwhile fails the job
//! (`speaker_deleted`) rather than the delete.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const JOBS: &str = "processing_jobs";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(JOBS)
                .add_column(uuid_null("enrols_speaker_id"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(JOBS)
                .drop_column("enrols_speaker_id")
                .to_owned(),
        )
        .await
    }
}

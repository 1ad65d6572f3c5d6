//! Re-rendering a finished job's clips.
//!
//! A job may ask for its source to be kept for a while (`keep_source_hours`),
//! under `kept/` in object storage; the sweeper deletes it at
//! `kept_source_until`. A re-render is a job of its own whose `parent_id` is
//! the job it renders from, with the ranges a person chose in `clip_ranges`.
//!
//! No foreign key on `parent_id`: SQLite cannot add one to an existing
//! table, so deleting a job removes its re-renders in the API.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const JOBS: &str = "processing_jobs";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            uuid_null("parent_id"),
            integer("keep_source_hours").default(0).to_owned(),
            text_null("kept_source_key"),
            timestamp_with_time_zone_null("kept_source_until"),
            json_null("clip_ranges"),
        ] {
            m.alter_table(Table::alter().table(JOBS).add_column(column).to_owned())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_processing_jobs_parent_id")
                .table(JOBS)
                .col("parent_id")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_processing_jobs_kept_source_until")
                .table(JOBS)
                .col("kept_source_until")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for index in [
            "ix_processing_jobs_kept_source_until",
            "ix_processing_jobs_parent_id",
        ] {
            m.drop_index(Index::drop().name(index).table(JOBS).to_owned())
                .await?;
        }
        for column in [
            "clip_ranges",
            "kept_source_until",
            "kept_source_key",
            "keep_source_hours",
            "parent_id",
        ] {
            m.alter_table(Table::alter().table(JOBS).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

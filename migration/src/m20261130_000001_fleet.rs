//! The worker fleet: how many times a job has been started (`attempts`),
//! when a job that failed for a passing reason may run again
//! (`retry_at`), and the registry of worker processes that operators read
//! at `GET /v1/admin/workers`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const JOBS: &str = "processing_jobs";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds only one at a time.
        m.alter_table(
            Table::alter()
                .table(JOBS)
                .add_column(integer("attempts").default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(JOBS)
                .add_column(timestamp_with_time_zone_null("retry_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("fleet_workers")
                .col(string("id").primary_key())
                .col(string("host"))
                .col(integer("pid"))
                .col(string("version"))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone("last_seen_at"))
                .col(timestamp_with_time_zone_null("stopped_at"))
                .col(uuid_null("current_job_id"))
                .col(uuid_null("current_tenant_id"))
                .col(timestamp_with_time_zone_null("current_since"))
                .col(big_integer("jobs_succeeded").default(0))
                .col(big_integer("jobs_failed").default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_fleet_workers_last_seen_at")
                .table("fleet_workers")
                .col("last_seen_at")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("fleet_workers").to_owned())
            .await?;
        for column in ["retry_at", "attempts"] {
            m.alter_table(Table::alter().table(JOBS).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

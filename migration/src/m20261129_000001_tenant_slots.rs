//! Fairness between tenants: a job is handed to the workers' queue only
//! while its tenant has fewer than `CUTROOM_TENANT_MAX_RUNNING` jobs there;
//! the rest wait, oldest first, with `dispatched_at` unset. Jobs queued
//! before this migration are already in the queue, so they count as
//! dispatched.

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
                .add_column(timestamp_with_time_zone_null("dispatched_at"))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table(JOBS)
                .value("dispatched_at", Expr::col("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_processing_jobs_tenant_status_dispatched")
                .table(JOBS)
                .col("tenant_id")
                .col("status")
                .col("dispatched_at")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_processing_jobs_tenant_status_dispatched")
                .table(JOBS)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(JOBS)
                .drop_column("dispatched_at")
                .to_owned(),
        )
        .await
    }
}

//! Usage metering: one row per job and stage with the minutes of media the
//! stage processed and the model it used, read by `GET /v1/usage`; and the
//! operator's monthly quota per tenant (`NULL`: the server's default,
//! `CUTROOM_MONTHLY_MEDIA_MINUTES`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const USAGE: &str = "usage_records";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(USAGE)
                .col(uuid("id").primary_key())
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(string("stage"))
                .col(string_null("model"))
                .col(double("media_seconds"))
                .col(timestamp_with_time_zone("recorded_at"))
                .to_owned(),
        )
        .await?;
        // A job's stage is metered once, however many attempts ran it.
        m.create_index(
            Index::create()
                .name("ux_usage_records_job_stage")
                .table(USAGE)
                .col("job_id")
                .col("stage")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_usage_records_tenant_recorded_at")
                .table(USAGE)
                .col("tenant_id")
                .col("recorded_at")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("tenants")
                .add_column(big_integer_null("quota_media_minutes"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("tenants")
                .drop_column("quota_media_minutes")
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(USAGE).to_owned()).await
    }
}

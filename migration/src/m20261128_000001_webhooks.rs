//! Webhooks: a tenant's endpoints (URL, chosen event types, the signing
//! secret sealed like other tenant secrets) and the outbox of messages to
//! them. A delivery row is written with the job event that causes it, so a
//! message exists before anyone tries to send it; senders lease due rows,
//! which lets several API replicas share the outbox without sending one
//! message twice at the same time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhook_endpoints")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(text("url"))
                .col(text("description"))
                .col(json("event_types"))
                .col(text("secret"))
                .col(boolean("enabled"))
                .col(text_null("disabled_reason"))
                .col(timestamp_with_time_zone_null("failing_since"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_endpoints_tenant_id")
                        .from("webhook_endpoints", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_endpoints_tenant")
                .table("webhook_endpoints")
                .col("tenant_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("endpoint_id"))
                .col(string("event_type"))
                .col(uuid_null("job_id"))
                // The exact body, so every attempt signs the same bytes.
                .col(text("payload"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(json("log"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_deliveries_endpoint_id")
                        .from("webhook_deliveries", "endpoint_id")
                        .to("webhook_endpoints", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_deliveries_due")
                .table("webhook_deliveries")
                .col("status")
                .col("next_attempt_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_deliveries_endpoint")
                .table("webhook_deliveries")
                .col("endpoint_id")
                .col("id")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("webhook_deliveries").to_owned())
            .await?;
        m.drop_table(Table::drop().table("webhook_endpoints").to_owned())
            .await
    }
}

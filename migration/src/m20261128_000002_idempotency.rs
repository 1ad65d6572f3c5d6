//! `Idempotency-Key` on the POSTs that create work: the first request with
//! a key is stored with a hash of its body and, once answered, with its
//! response, which a retry with the same key and body gets again for 24
//! hours.

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
                .table("idempotency_keys")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("key"))
                .col(string("request_hash"))
                .col(integer_null("status_code"))
                .col(text_null("response_body"))
                .col(string_null("content_type"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_idempotency_keys_tenant_id")
                        .from("idempotency_keys", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_idempotency_keys_tenant_key")
                .table("idempotency_keys")
                .col("tenant_id")
                .col("key")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_idempotency_keys_expires_at")
                .table("idempotency_keys")
                .col("expires_at")
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("idempotency_keys").to_owned())
            .await
    }
}

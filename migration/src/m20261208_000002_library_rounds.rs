//! Naming past jobs again as a background round: each tenant's speaker
//! library has a `revision`, bumped by every change to it, and the
//! revision its jobs were last `labelled` at. The housekeepers' relabel
//! round names the jobs of every tenant whose library moved on.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "speaker_libraries";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TABLE)
                .col(pk_uuid("tenant_id"))
                .col(big_integer("revision"))
                .col(big_integer("labelled"))
                .col(timestamp_with_time_zone("changed_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_speaker_libraries_tenant_id")
                        .from(TABLE, "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TABLE).to_owned()).await
    }
}

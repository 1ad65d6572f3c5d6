//! Batches: an archive of recordings whose every audio file becomes a
//! child job carrying its metadata row. The unpack job names its batch
//! (`unpacks_batch_id`); each child its batch and archive entry, unique
//! together, so an unpack that runs again (a worker killed mid-way)
//! never creates a child twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "batches";
const JOBS: &str = "processing_jobs";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(TABLE)
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_len("name", 255))
                .col(string_len("status", 16))
                .col(uuid("upload_id"))
                .col(big_integer("size_bytes"))
                .col(json("options"))
                .col(uuid_null("unpack_job_id"))
                .col(integer_null("entries_total"))
                .col(json("refused"))
                .col(json("unmatched"))
                .col(string_len_null("error_code", 64))
                .col(text_null("error_message"))
                .col(string_len("created_by", 64))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("unpacked_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_batches_tenant_id")
                        .from(TABLE, "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_batches_tenant_id")
                .table(TABLE)
                .col("tenant_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        // One column each: SQLite alters a table a column at a time.
        for col in [
            uuid_null("unpacks_batch_id"),
            uuid_null("batch_id"),
            string_len_null("entry_path", 1024),
            json_null("metadata"),
        ] {
            let mut col = col;
            m.alter_table(Table::alter().table(JOBS).add_column(&mut col).to_owned())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_processing_jobs_batch_entry")
                .table(JOBS)
                .col("batch_id")
                .col("entry_path")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_processing_jobs_batch_entry")
                .table(JOBS)
                .to_owned(),
        )
        .await?;
        for col in ["metadata", "entry_path", "batch_id", "unpacks_batch_id"] {
            m.alter_table(Table::alter().table(JOBS).drop_column(col).to_owned())
                .await?;
        }
        m.drop_table(Table::drop().table(TABLE).to_owned()).await
    }
}

//! Multipart uploads: a large file goes to storage in parts, each through
//! its own presigned URL, and is put together when the client completes
//! the upload. The upload remembers the storage's id for the parts and
//! the size it cut them at.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "uploads";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column each: SQLite alters a table a column at a time.
        for col in [
            string_len_null("multipart_id", 1024),
            big_integer_null("part_size"),
        ] {
            let mut col = col;
            m.alter_table(Table::alter().table(TABLE).add_column(&mut col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["part_size", "multipart_id"] {
            m.alter_table(Table::alter().table(TABLE).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

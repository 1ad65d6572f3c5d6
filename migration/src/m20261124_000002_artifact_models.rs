//! Which model files (name, sha256) produced each output, so a result can
//! be traced to the exact weights behind it. `NULL`: no model was involved
//! (or the row predates this column).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("artifacts")
                .add_column(json_null("models"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("artifacts")
                .drop_column("models")
                .to_owned(),
        )
        .await
    }
}

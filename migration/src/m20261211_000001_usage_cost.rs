//! Cost per stage: every usage record may carry what the stage cost in US
//! dollars (a cloud engine's price per minute, or the worker's time at the
//! operator's price) and a JSON detail (the transcription router's
//! decision, an LLM's tokens).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "usage_records";

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column each: SQLite alters a table a column at a time.
        for col in [double_null("cost_usd"), json_null("detail")] {
            let mut col = col;
            m.alter_table(Table::alter().table(TABLE).add_column(&mut col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["detail", "cost_usd"] {
            m.alter_table(Table::alter().table(TABLE).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}

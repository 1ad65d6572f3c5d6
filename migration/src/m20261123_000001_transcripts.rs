//! Transcripts: one row per job with what produced it, and its segments
//! (with their words) for the API and search.

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
                .table("transcripts")
                .col(pk_uuid("job_id"))
                .col(uuid("tenant_id"))
                .col(string("model"))
                .col(string_null("language"))
                .col(float_null("language_probability"))
                .col(double("duration"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transcripts_job_id")
                        .from("transcripts", "job_id")
                        .to("processing_jobs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("transcript_segments")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(integer("idx"))
                .col(double("start"))
                .col(double("end"))
                .col(text("text"))
                .col(string_null("speaker"))
                .col(float("confidence"))
                .col(json("words"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_transcript_segments_job_id")
                        .from("transcript_segments", "job_id")
                        .to("processing_jobs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_transcript_segments_job_idx")
                .table("transcript_segments")
                .col("tenant_id")
                .col("job_id")
                .col("idx")
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["transcript_segments", "transcripts"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

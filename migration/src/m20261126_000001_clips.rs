//! Clips: the rendered cuts of a job, each from one highlight (or, later,
//! a range a user chose), with the files it was rendered to. Whether a clip
//! may be downloaded follows from the moderation flags over its range, like
//! a highlight's, so it is worked out when read.
//!
//! Transcript segments learn when a person last corrected their text: the
//! corrections are what clips' captions are made from.

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
                .table("clips")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(integer("idx"))
                .col(integer_null("highlight_rank"))
                .col(double("start"))
                .col(double("end"))
                .col(double("duration"))
                .col(text("title"))
                .col(text("hook"))
                .col(integer("score"))
                .col(json("files"))
                .col(json("details"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_clips_job_id")
                        .from("clips", "job_id")
                        .to("processing_jobs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_clips_job_idx")
                .table("clips")
                .col("tenant_id")
                .col("job_id")
                .col("idx")
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("transcript_segments")
                .add_column(timestamp_with_time_zone_null("edited_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("transcript_segments")
                .drop_column("edited_at")
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table("clips").to_owned()).await
    }
}

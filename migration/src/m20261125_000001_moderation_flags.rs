//! Moderation and highlights: what a job's policy flagged (the review
//! queue: transcript segments, and highlight titles and hooks), every
//! reviewer's decision on it (the audit trail; a flag can be decided again,
//! and each decision stays), and the job's highlight candidates, whose
//! held or ready state follows from the flags they overlap.

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
                .table("moderation_flags")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(string("kind"))
                .col(integer("segment"))
                .col(double("start"))
                .col(double("end"))
                .col(text("text"))
                .col(string_null("speaker"))
                .col(json("scores"))
                .col(json("fired"))
                .col(string("categories"))
                .col(string("action"))
                .col(float("max_score"))
                .col(string("status"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("decided_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_moderation_flags_job_id")
                        .from("moderation_flags", "job_id")
                        .to("processing_jobs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_moderation_flags_tenant_status")
                .table("moderation_flags")
                .col("tenant_id")
                .col("status")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_moderation_flags_job_segment")
                .table("moderation_flags")
                .col("tenant_id")
                .col("job_id")
                .col("kind")
                .col("segment")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("highlights")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(integer("rank"))
                .col(double("start"))
                .col(double("end"))
                .col(text("title"))
                .col(text("hook"))
                .col(integer("score"))
                .col(json("reasons"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_highlights_job_id")
                        .from("highlights", "job_id")
                        .to("processing_jobs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_highlights_job_rank")
                .table("highlights")
                .col("tenant_id")
                .col("job_id")
                .col("rank")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("review_decisions")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("flag_id"))
                .col(uuid("job_id"))
                .col(string("decision"))
                .col(uuid_null("reviewer_user_id"))
                .col(uuid_null("reviewer_api_key_id"))
                .col(text_null("note"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_review_decisions_flag_id")
                        .from("review_decisions", "flag_id")
                        .to("moderation_flags", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_review_decisions_tenant_created")
                .table("review_decisions")
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["review_decisions", "highlights", "moderation_flags"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

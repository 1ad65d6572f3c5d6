//! The speaker library (`speakers`, `speaker_samples`) and the voiceprints
//! each job keeps of its speakers (`job_speakers`), from which jobs are
//! named again whenever the library changes, without their audio.
//!
//! Voiceprints are biometric data: every row here goes with its tenant,
//! a sample with its speaker and with the job it was taken from, and a
//! job's voiceprints with the job.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(
    table: &'static str,
    col: &'static str,
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(to, "id")
        .on_delete(on_delete)
        .to_owned()
}

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};
        m.create_table(
            Table::create()
                .table("speakers")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(text("name"))
                .col(text_null("external_id"))
                .col(json("metadata"))
                .col(boolean("consent"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("speakers", "tenant_id", "tenants", Cascade))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_speakers_tenant_name")
                .table("speakers")
                .col("tenant_id")
                .col("name")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_speakers_tenant_external_id")
                .table("speakers")
                .col("tenant_id")
                .col("external_id")
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("speaker_samples")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("speaker_id"))
                .col(string_len("model", 16))
                .col(double("seconds"))
                .col(blob("embedding"))
                .col(string_len("source", 16))
                .col(uuid_null("job_id"))
                .col(text_null("label"))
                .col(json_null("ranges"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("speaker_samples", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk(
                    "speaker_samples",
                    "speaker_id",
                    "speakers",
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "speaker_samples",
                    "job_id",
                    "processing_jobs",
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_speaker_samples_tenant_model")
                .table("speaker_samples")
                .col("tenant_id")
                .col("model")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_speaker_samples_speaker")
                .table("speaker_samples")
                .col("speaker_id")
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("job_speakers")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("job_id"))
                .col(string_len("label", 16))
                .col(string_len("model", 16))
                .col(double("seconds"))
                .col(blob("centroid"))
                .col(json("segments"))
                .col(blob("segment_embeddings"))
                .col(uuid_null("speaker_id"))
                .col(float_null("similarity"))
                .col(float_null("agreement"))
                .col(string_len_null("named_by", 16))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk("job_speakers", "tenant_id", "tenants", Cascade))
                .foreign_key(&mut fk(
                    "job_speakers",
                    "job_id",
                    "processing_jobs",
                    Cascade,
                ))
                .foreign_key(&mut fk("job_speakers", "speaker_id", "speakers", SetNull))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_job_speakers_job_label")
                .table("job_speakers")
                .col("tenant_id")
                .col("job_id")
                .col("label")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_speakers_speaker")
                .table("job_speakers")
                .col("speaker_id")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["job_speakers", "speaker_samples", "speakers"] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

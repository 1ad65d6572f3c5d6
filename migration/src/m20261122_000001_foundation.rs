//! Tenants, people and credentials; uploads, jobs, their events and artifacts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every tenant-owned table is looked up by `(tenant_id, id)`, so each gets that index.
fn tenant_index(table: &'static str) -> IndexCreateStatement {
    Index::create()
        .name(format!("ix_{table}_tenant"))
        .table(table)
        .col("tenant_id")
        .col("id")
        .to_owned()
}

fn fk(table: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Tenants, users, their memberships and invitations, API keys and
/// refresh tokens.
async fn accounts(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("tenants")
            .col(pk_uuid("id"))
            .col(string("name"))
            .col(timestamp_with_time_zone("created_at"))
            .to_owned(),
    )
    .await?;

    m.create_table(
        Table::create()
            .table("users")
            .col(pk_uuid("id"))
            .col(string_uniq("email"))
            .col(string("name"))
            .col(string("password_hash"))
            .col(timestamp_with_time_zone("created_at"))
            .to_owned(),
    )
    .await?;

    m.create_table(
        Table::create()
            .table("memberships")
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(uuid("user_id"))
            .col(string_len("role", 16))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("memberships", "tenant_id", "tenants"))
            .foreign_key(&mut fk("memberships", "user_id", "users"))
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("ux_memberships_tenant_user")
            .table("memberships")
            .col("tenant_id")
            .col("user_id")
            .unique()
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("ix_memberships_user")
            .table("memberships")
            .col("user_id")
            .to_owned(),
    )
    .await?;

    m.create_table(
        Table::create()
            .table("invitations")
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string("email"))
            .col(string_len("role", 16))
            .col(string_uniq("token_hash"))
            .col(uuid("invited_by"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone_null("accepted_at"))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("invitations", "tenant_id", "tenants"))
            .to_owned(),
    )
    .await?;

    m.create_table(
        Table::create()
            .table("api_keys")
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string("name"))
            .col(string_uniq("prefix"))
            .col(string("secret_hash"))
            .col(string_len("role", 16))
            .col(uuid("created_by"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone_null("last_used_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .foreign_key(&mut fk("api_keys", "tenant_id", "tenants"))
            .to_owned(),
    )
    .await?;
    m.create_index(tenant_index("api_keys")).await?;

    m.create_table(
        Table::create()
            .table("refresh_tokens")
            .col(pk_uuid("id"))
            .col(uuid("user_id"))
            .col(uuid("tenant_id"))
            .col(uuid("family_id"))
            .col(string_uniq("token_hash"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone_null("used_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("refresh_tokens", "user_id", "users"))
            .foreign_key(&mut fk("refresh_tokens", "tenant_id", "tenants"))
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("ix_refresh_tokens_family")
            .table("refresh_tokens")
            .col("family_id")
            .to_owned(),
    )
    .await?;

    Ok(())
}

/// Uploads, jobs (`processing_jobs`), their events and artifacts.
async fn uploads_and_jobs(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_table(
        Table::create()
            .table("uploads")
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string("filename"))
            .col(string("content_type"))
            .col(big_integer("size_bytes"))
            .col(string("object_key"))
            .col(string_len("status", 16))
            .col(timestamp_with_time_zone("expires_at"))
            .col(uuid_null("job_id"))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("uploads", "tenant_id", "tenants"))
            .to_owned(),
    )
    .await?;
    m.create_index(tenant_index("uploads")).await?;
    m.create_index(
        Index::create()
            .name("ix_uploads_status_expires")
            .table("uploads")
            .col("status")
            .col("expires_at")
            .to_owned(),
    )
    .await?;

    // Not `jobs`: SQLite table names ignore case and apalis-sqlite owns `Jobs`.
    m.create_table(
        Table::create()
            .table("processing_jobs")
            .col(pk_uuid("id"))
            .col(uuid("tenant_id"))
            .col(string_len("source_type", 16))
            .col(text_null("source_url"))
            .col(uuid_null("upload_id"))
            .col(string_null("source_key"))
            .col(json("options"))
            .col(string_len("status", 16))
            .col(string_len_null("stage", 32))
            .col(integer("progress"))
            .col(string_len_null("error_code", 64))
            .col(text_null("error_message"))
            .col(boolean("cancel_requested"))
            .col(json_null("media"))
            .col(string("created_by"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone("updated_at"))
            .col(timestamp_with_time_zone_null("started_at"))
            .col(timestamp_with_time_zone_null("finished_at"))
            .foreign_key(&mut fk("processing_jobs", "tenant_id", "tenants"))
            .to_owned(),
    )
    .await?;
    m.create_index(tenant_index("processing_jobs")).await?;

    m.create_table(
        Table::create()
            .table("job_events")
            .col(pk_uuid("id"))
            .col(uuid("job_id"))
            .col(uuid("tenant_id"))
            .col(string_len("kind", 32))
            .col(string_len_null("stage", 32))
            .col(text_null("message"))
            .col(json_null("data"))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("job_events", "job_id", "processing_jobs"))
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("ix_job_events_job")
            .table("job_events")
            .col("job_id")
            .col("id")
            .to_owned(),
    )
    .await?;

    m.create_table(
        Table::create()
            .table("artifacts")
            .col(pk_uuid("id"))
            .col(uuid("job_id"))
            .col(uuid("tenant_id"))
            .col(string("name"))
            .col(string("object_key"))
            .col(string("content_type"))
            .col(big_integer("size_bytes"))
            .col(string_len("sha256", 64))
            .col(timestamp_with_time_zone("created_at"))
            .foreign_key(&mut fk("artifacts", "job_id", "processing_jobs"))
            .to_owned(),
    )
    .await?;
    m.create_index(
        Index::create()
            .name("ux_artifacts_job_name")
            .table("artifacts")
            .col("job_id")
            .col("name")
            .unique()
            .to_owned(),
    )
    .await?;
    Ok(())
}

// The trait's signatures elide SchemaManager's lifetime; naming it breaks async_trait.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        accounts(m).await?;
        uploads_and_jobs(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "artifacts",
            "job_events",
            "processing_jobs",
            "uploads",
            "refresh_tokens",
            "api_keys",
            "invitations",
            "memberships",
            "users",
            "tenants",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

//! Last stage: upload the outputs under the job's tenant-prefixed key and
//! record each as an artifact with its size and SHA-256.

use chrono::Utc;
use cutroom_core::{
    ErrorCode,
    queries::{artifacts, jobs},
    storage::{job_prefix, kept_source_key},
};
use cutroom_entities::artifact;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::{
    JobCtx, Output, StageError,
    fetch::{self, Source},
};

pub(crate) async fn run(ctx: &JobCtx<'_>, outputs: &[Output]) -> Result<(), StageError> {
    let job = ctx.job;
    for output in outputs {
        let (size, sha256) = digest(output).await.map_err(|e| {
            StageError::failed(
                ErrorCode::InternalError,
                "the worker could not read its results; try again later",
            )
            .detail(e)
        })?;
        let key = format!("{}{}", job_prefix(job.tenant_id, job.id), output.name);
        ctx.store
            .put_file(&key, &output.path, output.content_type)
            .await
            .map_err(|e| {
                StageError::failed(
                    ErrorCode::StorageError,
                    "the results could not be stored; try again later",
                )
                .detail(e)
            })?;
        let row = artifact::Model {
            id: Uuid::now_v7(),
            job_id: job.id,
            tenant_id: job.tenant_id,
            name: output.name.clone(),
            object_key: key,
            content_type: output.content_type.to_owned(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            models: (!output.models.is_empty())
                .then(|| serde_json::to_value(&output.models).expect("plain data")),
            created_at: Utc::now(),
        };
        artifacts::upsert(&ctx.db.orm, row).await?;
        tracing::info!(name = %output.name, size, "artifact published");
    }
    Ok(())
}

/// Keeps the job's source under `kept/` for as many hours as the job asked
/// (`keep_source_hours`), so its clips can be re-rendered; the API's
/// sweeper deletes it then. Nothing is kept when the job asked for none.
pub(crate) async fn keep_source(ctx: &JobCtx<'_>, source: &Source) -> Result<(), StageError> {
    let job = ctx.job;
    if job.keep_source_hours <= 0 {
        return Ok(());
    }
    let key = kept_source_key(job.tenant_id, job.id, &fetch::source_extension(source));
    ctx.store
        .put_file(&key, &source.path, "application/octet-stream")
        .await
        .map_err(|e| {
            StageError::failed(
                ErrorCode::StorageError,
                "the source could not be kept for re-renders; try again later",
            )
            .detail(e)
        })?;
    let until = Utc::now() + chrono::Duration::hours(i64::from(job.keep_source_hours));
    jobs::set_kept_source(&ctx.db.orm, job.tenant_id, job.id, &key, until).await?;
    tracing::info!(%key, %until, "source kept for re-renders");
    Ok(())
}

/// Size and hex SHA-256 of the file, read in chunks.
pub(crate) async fn digest(output: &Output) -> std::io::Result<(u64, String)> {
    digest_file(&output.path).await
}

pub(crate) async fn digest_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

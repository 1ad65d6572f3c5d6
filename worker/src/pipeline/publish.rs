//! Last stage: upload the outputs under the job's tenant-prefixed key and
//! record each as an artifact with its size and SHA-256.

use chrono::Utc;
use cutroom_core::{ErrorCode, queries::artifacts, storage::job_prefix};
use cutroom_entities::artifact;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::{JobCtx, Output, StageError};

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

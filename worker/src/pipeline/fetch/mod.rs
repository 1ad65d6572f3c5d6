//! Stage 1: bring the source into the scratch folder, exactly once.
//!
//! Video links go through yt-dlp; uploads are copied out of object storage.
//! The original stays there until the job ends (the worker deletes it
//! then), so an attempt that a worker crash or a storage outage cut short
//! can start over.

mod classify;
mod formats;
mod ytdlp;

use std::path::{Path, PathBuf};

use cutroom_core::{ErrorCode, queries::jobs, storage::StorageError};
use cutroom_entities::SourceType;

use super::{JobCtx, StageError};

pub(crate) use formats::Download;

/// The fetched source file.
#[derive(Debug)]
pub(crate) struct Source {
    pub path: PathBuf,
    /// What yt-dlp chose, for a video link.
    pub download: Option<Download>,
}

pub(crate) async fn run(ctx: &JobCtx<'_>) -> Result<Source, StageError> {
    let (path, download) = match ctx.job.source_type {
        SourceType::Youtube => {
            let url = ctx.job.source_url.as_deref().ok_or_else(|| {
                StageError::failed(ErrorCode::InternalError, "the job has no source URL")
                    .detail("source_url is NULL")
            })?;
            let wanted = if ctx.options.audio_only {
                ytdlp::Wanted::AudioOnly
            } else {
                ytdlp::Wanted::Video {
                    max_height: ctx.config.max_source_height,
                }
            };
            let fetched = ytdlp::download(ctx, url, wanted).await?;
            (fetched.path, Some(fetched.download))
        }
        SourceType::Upload => (from_upload(ctx).await?, None),
    };
    let bytes = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if bytes == 0 {
        return Err(StageError::failed(
            ErrorCode::UnsupportedMedia,
            "the source file is empty",
        ));
    }
    tracing::info!(
        bytes,
        format = download.as_ref().map(|d| d.format_id.as_str()),
        "source fetched"
    );
    Ok(Source { path, download })
}

/// A re-render's source: the copy `parent` kept for it, read (not
/// consumed: other re-renders may follow) into the scratch folder.
pub(crate) async fn kept(ctx: &JobCtx<'_>, parent: uuid::Uuid) -> Result<Source, StageError> {
    let expired = || {
        StageError::failed(
            ErrorCode::SourceExpired,
            "the source kept for re-renders has been deleted; submit the video again with keep_source_hours",
        )
    };
    let job = jobs::get(&ctx.db.orm, ctx.job.tenant_id, parent)
        .await?
        .ok_or_else(expired)?;
    let key = match (job.kept_source_key, job.kept_source_until) {
        (Some(key), Some(until)) if until > chrono::Utc::now() => key,
        _ => return Err(expired()),
    };
    let path = ctx.scratch.join(format!("source.{}", extension(&key)));
    match ctx.store.get_to_file(&key, &path).await {
        Ok(bytes) => tracing::info!(bytes, "kept source fetched"),
        Err(StorageError::NotFound(_)) => return Err(expired()),
        Err(e) => {
            return Err(StageError::failed(
                ErrorCode::StorageError,
                "the kept source could not be read from storage; try again later",
            )
            .detail(e));
        }
    }
    Ok(Source {
        path,
        download: None,
    })
}

/// The source's extension, for naming a kept copy of it.
pub(crate) fn source_extension(source: &Source) -> String {
    extension(&source.path.to_string_lossy())
}

async fn from_upload(ctx: &JobCtx<'_>) -> Result<PathBuf, StageError> {
    let job = ctx.job;
    let Some(key) = job.source_key.as_deref() else {
        return Err(StageError::failed(
            ErrorCode::UploadMissing,
            "the uploaded file was deleted when this job ended before; upload it again",
        ));
    };
    let path = ctx.scratch.join(format!("source.{}", extension(key)));
    match ctx.store.get_to_file(key, &path).await {
        Ok(_) => {}
        Err(StorageError::NotFound(_)) => {
            return Err(StageError::failed(
                ErrorCode::UploadMissing,
                "the uploaded file is no longer in storage; upload it again",
            ));
        }
        Err(e) => {
            return Err(StageError::failed(
                ErrorCode::StorageError,
                "the uploaded file could not be read from storage; try again later",
            )
            .detail(e));
        }
    }
    Ok(path)
}

/// The upload's extension, if it is a plausible one. It only helps ffmpeg
/// guess formats that have no signature; anything odd becomes `bin`.
fn extension(key: &str) -> String {
    Path::new(key)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| (1..=8).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map_or_else(|| "bin".to_owned(), str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    #[test]
    fn extensions_are_kept_only_when_plausible() {
        assert_eq!(super::extension("uploads/t/u/talk.MP4"), "mp4");
        assert_eq!(super::extension("uploads/t/u/noext"), "bin");
        assert_eq!(super::extension("uploads/t/u/a.b.c_d"), "bin");
        assert_eq!(super::extension("uploads/t/u/x.verylongext"), "bin");
    }
}

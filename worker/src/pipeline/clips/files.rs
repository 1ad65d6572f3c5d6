//! The stage's files in the scratch folder: written, described for the
//! manifest (size and digest), and handed on to be published. Shared by
//! the planning, which writes caption scripts, and the assembling, which
//! writes captions and lists the renders.

use std::path::PathBuf;

use cutroom_core::{
    ErrorCode,
    clips::ClipFormat,
    outputs::clips::{FileKind, ManifestFile},
};

use super::encode::RenderSpec;
use crate::pipeline::{Output, StageError, publish};

pub(super) async fn write_file(
    dir: &std::path::Path,
    path: &std::path::Path,
    bytes: Vec<u8>,
) -> Result<(), StageError> {
    make_dir(dir).await?;
    tokio::fs::write(path, bytes).await.map_err(write_failed)
}

/// Makes a clip's folder, where its renders are written.
pub(super) async fn make_dir(dir: &std::path::Path) -> Result<(), StageError> {
    tokio::fs::create_dir_all(dir).await.map_err(write_failed)
}

fn write_failed(e: std::io::Error) -> StageError {
    StageError::failed(
        ErrorCode::InternalError,
        "the worker could not write its results; try again later",
    )
    .detail(e)
}

pub(super) async fn file(
    name: &str,
    kind: FileKind,
    video: Option<(ClipFormat, &RenderSpec)>,
    content_type: &'static str,
    path: &std::path::Path,
) -> Result<ManifestFile, StageError> {
    let (size_bytes, sha256) = publish::digest_file(path).await.map_err(|e| {
        StageError::failed(
            ErrorCode::InternalError,
            "the worker could not read its results; try again later",
        )
        .detail(e)
    })?;
    Ok(ManifestFile {
        name: name.to_owned(),
        kind,
        format: video.map(|(f, _)| f),
        width: video.map(|(_, s)| s.width),
        height: video.map(|(_, s)| s.height),
        content_type: content_type.to_owned(),
        size_bytes,
        sha256,
        frames_copied: None,
    })
}

pub(super) fn output(name: String, content_type: &'static str, path: PathBuf) -> Output {
    Output {
        name,
        path,
        content_type,
        models: Vec::new(),
    }
}

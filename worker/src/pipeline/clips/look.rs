//! What a clip's picture is: the source's own, reframed, or an audiogram
//! drawn from its sound when the source has no picture
//! ([`super::audiogram`]).

use std::path::{Path, PathBuf};

use cutroom_core::{
    ErrorCode,
    outputs::clips::{AudiogramNote, ClipKind},
    storage,
};

use super::{audiogram, captions::Title, encode::filter_path, files::make_dir};
use crate::pipeline::{JobCtx, StageError};

pub(crate) enum Look {
    Video,
    Audiogram {
        /// The job's title, as shown across the top.
        title: Option<String>,
        /// The tenant's logo, fetched into the job's scratch folder.
        logo: Option<PathBuf>,
    },
}

impl Look {
    /// An audiogram's look for this job: its title, and the tenant's logo
    /// when one is set, fetched into `dir`.
    pub(crate) async fn audiogram(ctx: &JobCtx<'_>, dir: &Path) -> Result<Self, StageError> {
        let key = storage::tenant_logo_key(ctx.job.tenant_id);
        let failed = |e: storage::StorageError| {
            StageError::failed(
                ErrorCode::StorageError,
                "the tenant's logo could not be fetched for the audiograms; try again later",
            )
            .detail(e)
        };
        let logo = match ctx.store.head(&key).await.map_err(failed)? {
            None => None,
            Some(_) => {
                make_dir(dir).await?;
                let path = dir.join("logo.png");
                match ctx.store.get_to_file(&key, &path).await {
                    Ok(_) => Some(path),
                    // Removed since: no logo, as if it had never been set.
                    Err(storage::StorageError::NotFound(_)) => None,
                    Err(e) => return Err(failed(e)),
                }
            }
        };
        Ok(Look::Audiogram {
            title: audiogram::shown_title(ctx.job.title.as_deref()),
            logo,
        })
    }

    pub(crate) fn is_video(&self) -> bool {
        matches!(self, Look::Video)
    }

    /// The manifest's name for the clips' kind.
    pub(crate) fn kind(&self) -> ClipKind {
        match self {
            Look::Video => ClipKind::Video,
            Look::Audiogram { .. } => ClipKind::Audiogram,
        }
    }

    pub(crate) fn note(&self) -> AudiogramNote {
        let (title, logo) = match self {
            Look::Video => (false, false),
            Look::Audiogram { title, logo } => (title.is_some(), logo.is_some()),
        };
        AudiogramNote {
            fps: audiogram::FPS,
            title,
            logo,
        }
    }

    /// The title drawn on a `width` x `height` clip, if any.
    pub(crate) fn title(&self, width: u32, height: u32) -> Option<Title<'_>> {
        match self {
            Look::Audiogram { title: Some(t), .. } => Some(audiogram::title(t, width, height)),
            _ => None,
        }
    }

    /// The picture's filters: `video`'s reframing of the source, or the
    /// audiogram's drawing; either with the ASS script burned in.
    pub(crate) fn filters(
        &self,
        ass: Option<&Path>,
        (width, height): (u32, u32),
        video: impl FnOnce() -> String,
    ) -> String {
        match self {
            Look::Video => {
                let mut filters = video();
                if let Some(path) = ass {
                    filters.push_str(&format!(",ass=filename={}", filter_path(path)));
                }
                filters
            }
            Look::Audiogram { logo, .. } => audiogram::filters(width, height, ass, logo.as_deref()),
        }
    }
}

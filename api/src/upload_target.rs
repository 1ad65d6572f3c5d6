//! Where a client sends a file: one presigned `PUT`, or (above
//! `CUTROOM_MULTIPART_THRESHOLD_BYTES`, or when asked for) presigned parts
//! that the upload's completion puts together. Media uploads and batch
//! archives offer both the same way.

use std::{collections::BTreeMap, time::Duration};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cutroom_core::storage::{PartPlan, StorageError, UploadedPart};
use cutroom_entities::upload;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ProblemCode, app::App, error::ApiError};

/// Presigned URLs to S3 may live a week at most.
const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Parts get the upload's usual time plus a second a MiB: a slow link
/// (1 MiB/s) still finishes a large file before its URLs run out.
const SLOW_LINK_BYTES_PER_SEC: u64 = 1 << 20;

/// Where and how to send the file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadTarget {
    /// For a file sent in one `PUT`: send it here with `method`, exactly
    /// `size_bytes` bytes, and `headers`. `null` when `multipart` is set.
    pub url: Option<String>,
    /// `PUT`; `null` when `multipart` is set.
    pub method: Option<String>,
    /// Headers to send exactly as given (they are part of the signature);
    /// `null` when `multipart` is set.
    pub headers: Option<BTreeMap<String, String>>,
    /// When the URLs stop working.
    pub expires_at: DateTime<Utc>,
    /// For a file sent in parts: `null` for one `PUT`.
    pub multipart: Option<MultipartTarget>,
}

/// Send byte range `[(part_number - 1) * part_size, part_number *
/// part_size)` of the file (the last part has the rest) to each part's
/// URL, in any order and several at once; keep each answer's `ETag`
/// header, and complete the upload with every part's number and ETag. A
/// failed part may be sent again to the same URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartTarget {
    /// Bytes in every part but the last.
    pub part_size: u64,
    pub parts: Vec<PartTarget>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartTarget {
    pub part_number: u32,
    /// Bytes this part has.
    pub size_bytes: u64,
    pub url: String,
    /// `PUT`.
    pub method: String,
    /// Headers to send exactly as given.
    pub headers: BTreeMap<String, String>,
}

/// An upload target, with what the upload row keeps of it.
pub struct Offer {
    pub target: UploadTarget,
    pub multipart_id: Option<String>,
    pub part_size: Option<i64>,
}

/// Presigns the upload of `size` bytes of `content_type` to `key`: in
/// parts when the file is over the threshold or `parts` asks for them.
pub async fn offer(
    app: &App,
    key: &str,
    content_type: &str,
    size: u64,
    parts: bool,
) -> Result<Offer, ApiError> {
    let config = &app.config;
    if !parts && size <= config.multipart_threshold {
        let put = app
            .store
            .presign_put(key, content_type, size, config.upload_url_ttl)
            .await?;
        return Ok(Offer {
            target: UploadTarget {
                url: Some(put.url),
                method: Some(put.method),
                headers: Some(put.headers),
                expires_at: put.expires_at,
                multipart: None,
            },
            multipart_id: None,
            part_size: None,
        });
    }
    let plan = PartPlan::new(size, config.upload_part_size);
    let ttl = (config.upload_url_ttl + Duration::from_secs(size / SLOW_LINK_BYTES_PER_SEC))
        .min(MAX_URL_TTL);
    let id = app.store.create_multipart(key, content_type).await?;
    let mut targets = Vec::with_capacity(plan.count as usize);
    let mut expires_at = Utc::now() + ttl;
    for number in 1..=plan.count {
        let length = plan.length(number);
        let p = app
            .store
            .presign_part(key, &id, number, length, ttl)
            .await?;
        expires_at = expires_at.min(p.expires_at);
        targets.push(PartTarget {
            part_number: number,
            size_bytes: length,
            url: p.url,
            method: p.method,
            headers: p.headers,
        });
    }
    Ok(Offer {
        target: UploadTarget {
            url: None,
            method: None,
            headers: None,
            expires_at,
            multipart: Some(MultipartTarget {
                part_size: plan.part_size,
                parts: targets,
            }),
        },
        multipart_id: Some(id),
        part_size: Some(plan.part_size as i64),
    })
}

/// Puts a multipart upload's parts together as its object, when it has
/// parts and the object is not there yet (a completion that is tried
/// again after the parts were put together finds the object).
pub async fn assemble(
    app: &App,
    upload: &upload::Model,
    parts: &[UploadedPart],
) -> Result<(), ApiError> {
    let Some(id) = &upload.multipart_id else {
        return Ok(());
    };
    if app.store.head(&upload.object_key).await?.is_some() {
        return Ok(());
    }
    if parts.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::UploadMissing,
            "this upload is sent in parts: PUT each part to its URL, then complete with \
             `parts`, each part's number and the ETag its PUT answered",
        ));
    }
    let size = u64::try_from(upload.size_bytes).unwrap_or_default();
    let part_size = upload
        .part_size
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(size);
    PartPlan::with_part_size(size, part_size)
        .check(parts)
        .map_err(parts_invalid)?;
    match app
        .store
        .complete_multipart(&upload.object_key, id, parts)
        .await
    {
        Ok(()) => Ok(()),
        Err(StorageError::Parts(why)) => Err(parts_invalid(why)),
        Err(e) => Err(e.into()),
    }
}

fn parts_invalid(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ProblemCode::UploadPartsInvalid,
        detail,
    )
}

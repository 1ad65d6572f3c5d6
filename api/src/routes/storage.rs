//! The local store's presigned URLs, served by the API itself (embedded
//! default only; with S3 the URLs point at S3 and these answer 404).
//!
//! No bearer token here: the signature in the query string is the
//! credential, bound to method, key, expiry, and for `PUT` content type and
//! length (see `cutroom_core::storage::LocalStore::verify`).

use std::sync::atomic::{AtomicBool, Ordering};

use axum::{
    body::Body,
    extract::DefaultBodyLimit,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::put,
};
use chrono::Utc;
use cutroom_core::{
    queries,
    storage::{LocalStore, PartTarget, SignatureError, StorageError},
};
use cutroom_entities::UploadStatus;
use futures::TryStreamExt;
use serde::Deserialize;
use tokio_util::io::ReaderStream;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::ProblemCode;
use crate::{
    app::AppState,
    error::ApiError,
    extract::{Path, Query},
};

/// Plain axum routes: the key is a `{*key}` wildcard, which an OpenAPI path
/// cannot express, so these two are documented through `ApiDoc` instead.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route(
        "/storage/{*key}",
        // The signed length is the limit; the body streams straight to disk.
        put(put_object)
            .layer(DefaultBodyLimit::disable())
            .get(get_object),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signed {
    /// Unix time after which the URL stops working.
    pub expires: i64,
    /// Hex HMAC-SHA256 over the request.
    pub signature: String,
}

/// A `PUT`'s signed query: a whole object, or one part of a multipart
/// upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedPut {
    /// Unix time after which the URL stops working.
    pub expires: i64,
    /// Hex HMAC-SHA256 over the request.
    pub signature: String,
    /// For a part: the multipart upload it belongs to.
    pub upload_id: Option<String>,
    /// For a part: its number, from 1.
    pub part_number: Option<u32>,
}

fn local(state: &AppState) -> Result<&LocalStore, ApiError> {
    state.local_store.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "local storage is not in use",
        )
    })
}

fn check(r: Result<(), SignatureError>) -> Result<(), ApiError> {
    r.map_err(|e| match e {
        SignatureError::Expired => ApiError::new(StatusCode::FORBIDDEN, ProblemCode::UrlExpired, "the presigned URL has expired"),
        SignatureError::Invalid => ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::SignatureMismatch,
            "the signature does not match this request (method, key, Content-Type and Content-Length are signed)",
        ),
    })
}

/// Upload the bytes of a presigned upload, or one part of it.
#[utoipa::path(
    put, path = "/storage/{key}", tag = "storage", security(()),
    params(("key" = String, Path, description = "Object key; may contain `/`"), SignedPut),
    request_body(content = String, content_type = "application/octet-stream", description = "Exactly the signed number of bytes, with the signed Content-Type (a part has none)"),
    responses(
        (status = 200, description = "Stored; the `ETag` header names the bytes (a part is completed with it)"),
        (status = 400, description = "`upload_size_mismatch`: the body is not the signed length", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`url_expired` or `signature_mismatch`", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such multipart upload", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_in_progress`: another PUT to this URL has not ended; `upload_completed`: the upload was completed", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`: the upload expired", body = ApiError, content_type = "application/problem+json"),
        (status = 408, description = "`body_timeout`: the body stopped arriving (nothing for `CUTROOM_HTTP_BODY_TIMEOUT_SECS`); nothing was kept, send it again", body = ApiError, content_type = "application/problem+json"),
        (status = 411, description = "`length_required`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `upload_id` without `part_number`, or the other way round", body = ApiError, content_type = "application/problem+json"),
    )
)]
pub async fn put_object(
    state: AppState,
    Path(key): Path<String>,
    Query(q): Query<SignedPut>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, [(header::HeaderName, HeaderValue); 1]), ApiError> {
    let store = local(&state)?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::LENGTH_REQUIRED,
                ProblemCode::LengthRequired,
                "send a Content-Length header",
            )
        })?;
    let part = match (q.upload_id.as_deref(), q.part_number) {
        (Some(upload_id), Some(number)) => Some(PartTarget { upload_id, number }),
        (None, None) => None,
        _ => {
            return Err(ApiError::validation(
                "upload_id and part_number go together: send the part's URL as it was given",
            ));
        }
    };
    // A part's bytes have no type of their own: only a whole PUT signs one.
    let content_type = match part {
        Some(_) => "",
        None => headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    };
    check(store.verify(
        "PUT",
        &key,
        q.expires,
        &q.signature,
        content_type,
        Some(length),
        part,
        Utc::now(),
    ))?;
    let claimed = match part {
        Some(p) => store.claim_part(&key, p.upload_id, p.number),
        None => store.claim_write(&key),
    };
    let slot = match claimed {
        Ok(Some(slot)) => slot,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::UploadInProgress,
                "another upload to this URL is in progress; wait for it to end",
            ));
        }
        Err(StorageError::NotFound(_)) => {
            // Its parts were put together, or dropped with the upload.
            check_open(&state, &key).await?;
            return Err(ApiError::not_found("multipart upload"));
        }
        Err(_) => return Err(ApiError::validation("invalid object key")),
    };
    check_open(&state, &key).await?;
    let stalled = AtomicBool::new(false);
    let stream = body
        .into_data_stream()
        .inspect_err(|e| stalled.store(crate::extract::timed_out(e), Ordering::Relaxed));
    let etag = match store.write_stream(&slot, length, stream).await {
        Ok(etag) => etag,
        // The slot's temporary file goes with the slot.
        Err(_) if stalled.load(Ordering::Relaxed) => return Err(crate::extract::body_timeout()),
        Err(StorageError::Backend(detail)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::UploadSizeMismatch,
                detail,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    // Completed or expired while the bytes came in: keep nothing.
    check_open(&state, &key).await?;
    match part {
        Some(_) => slot.commit_part(&etag).await?,
        None => slot.commit().await?,
    }
    let etag = HeaderValue::from_str(&format!("\"{etag}\"")).map_err(ApiError::internal)?;
    Ok((StatusCode::OK, [(header::ETAG, etag)]))
}

/// Only a pending upload takes bytes: once completed, its job owns the
/// object (a later PUT would leave a file behind that nothing deletes);
/// once expired, it is gone for good. The signature already proved the key
/// is one this API handed out; the key names the upload.
async fn check_open(state: &AppState, key: &str) -> Result<(), ApiError> {
    let Some((tenant_id, upload_id)) = cutroom_core::storage::parse_upload_key(key) else {
        return Err(ApiError::not_found("upload"));
    };
    let upload = queries::uploads::get(&state.db.orm, tenant_id, upload_id).await?;
    match upload.map(|u| u.status) {
        Some(UploadStatus::Pending) => Ok(()),
        Some(UploadStatus::Completed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::UploadCompleted,
            "the upload was completed; a new file needs a new upload",
        )),
        Some(UploadStatus::Expired) | None => Err(ApiError::new(
            StatusCode::GONE,
            ProblemCode::UploadExpired,
            "the upload expired before it was completed; start a new one",
        )),
    }
}

/// Download an object through a presigned URL.
#[utoipa::path(
    get, path = "/storage/{key}", tag = "storage", security(()),
    params(("key" = String, Path, description = "Object key; may contain `/`"), Signed),
    responses(
        (status = 200, description = "The object", content_type = "application/octet-stream", body = String),
        (status = 403, description = "`url_expired` or `signature_mismatch`", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ApiError, content_type = "application/problem+json"),
    )
)]
pub async fn get_object(
    state: AppState,
    Path(key): Path<String>,
    Query(q): Query<Signed>,
) -> Result<Response, ApiError> {
    let store = local(&state)?;
    check(store.verify(
        "GET",
        &key,
        q.expires,
        &q.signature,
        "",
        None,
        None,
        Utc::now(),
    ))?;
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            "no such object",
        )
    };
    let path = store.path_of(&key).map_err(|_| missing())?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_str(mime_guess::from_path(&key).first_or_octet_stream().as_ref())
                .map_err(ApiError::internal)?,
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(len)),
        // A file, never a page of this origin: the browser neither guesses
        // another type nor renders it.
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CONTENT_DISPOSITION, attachment(&key)),
    ];
    Ok((headers, Body::from_stream(ReaderStream::new(file))).into_response())
}

/// `attachment; filename="<last key segment>"`, the name kept to characters
/// that need no quoting.
fn attachment(key: &str) -> HeaderValue {
    let name: String = key
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

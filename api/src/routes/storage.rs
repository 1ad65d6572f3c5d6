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
    storage::{LocalStore, SignatureError, StorageError},
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

/// Upload the bytes of a presigned upload.
#[utoipa::path(
    put, path = "/storage/{key}", tag = "storage", security(()),
    params(("key" = String, Path, description = "Object key; may contain `/`"), Signed),
    request_body(content = String, content_type = "application/octet-stream", description = "Exactly the signed number of bytes, with the signed Content-Type"),
    responses(
        (status = 200, description = "Stored"),
        (status = 400, description = "`upload_size_mismatch`: the body is not the signed length", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`url_expired` or `signature_mismatch`", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`upload_in_progress`: another PUT to this URL has not ended; `upload_completed`: the upload was completed", body = ApiError, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`: the upload expired", body = ApiError, content_type = "application/problem+json"),
        (status = 408, description = "`body_timeout`: the body stopped arriving (nothing for `CUTROOM_HTTP_BODY_TIMEOUT_SECS`); nothing was kept, send it again", body = ApiError, content_type = "application/problem+json"),
        (status = 411, description = "`length_required`", body = ApiError, content_type = "application/problem+json"),
    )
)]
pub async fn put_object(
    state: AppState,
    Path(key): Path<String>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let store = local(&state)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
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
    check(store.verify(
        "PUT",
        &key,
        q.expires,
        &q.signature,
        content_type,
        Some(length),
        Utc::now(),
    ))?;
    let slot = store
        .claim_write(&key)
        .map_err(|_| ApiError::validation("invalid object key"))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::UploadInProgress,
                "another upload to this URL is in progress; wait for it to end",
            )
        })?;
    check_open(&state, &key).await?;
    let stalled = AtomicBool::new(false);
    let stream = body
        .into_data_stream()
        .inspect_err(|e| stalled.store(crate::extract::timed_out(e), Ordering::Relaxed));
    match store.write_stream(&slot, length, stream).await {
        Ok(()) => {}
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
    }
    // Completed or expired while the bytes came in: keep nothing.
    check_open(&state, &key).await?;
    slot.commit().await?;
    Ok(StatusCode::OK)
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
    check(store.verify("GET", &key, q.expires, &q.signature, "", None, Utc::now()))?;
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

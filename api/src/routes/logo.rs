//! The tenant's logo, drawn in the corner of its audiograms (the clips of
//! sources without a picture). Everyone in the tenant sees it; admins and
//! owners set and remove it.
//!
//! The upload is decoded here, checked, and written again as a PNG, so the
//! worker only ever reads an image Cutroom wrote. Its object
//! ([`storage::tenant_logo_key`]) is the setting: no object, no logo.

use std::io::Cursor;

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
};
use chrono::{DateTime, Utc};
use cutroom_core::storage;
use image::{ImageFormat, ImageReader, Limits};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ProblemCode;
use crate::{app::AppState, auth::AuthContext, error::ApiError, extract::Json};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_logo, put_logo, delete_logo))
}

/// Largest upload, bytes (1 MiB).
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;
/// Largest side, pixels.
pub const MAX_LOGO_SIDE: u32 = 2048;
/// Smallest side, pixels: less is not a logo anyone can see.
pub const MIN_LOGO_SIDE: u32 = 16;

/// The tenant's logo, as stored (always a PNG).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantLogo {
    /// A presigned `GET` URL of the PNG.
    pub url: String,
    pub url_expires_at: DateTime<Utc>,
    #[schema(example = "image/png")]
    pub content_type: String,
    pub size_bytes: u64,
}

async fn view(state: &AppState, key: &str, size_bytes: u64) -> Result<TenantLogo, ApiError> {
    let url = state
        .store
        .presign_get(key, state.config.download_url_ttl)
        .await?;
    Ok(TenantLogo {
        url: url.url,
        url_expires_at: url.expires_at,
        content_type: "image/png".into(),
        size_bytes,
    })
}

/// The tenant's logo for audiograms.
#[utoipa::path(
    get, path = "/v1/tenant/logo", tag = "tenant", security(("bearer" = [])),
    responses(
        (status = 200, description = "The logo", body = TenantLogo),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the tenant has no logo", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn get_logo(state: AppState, ctx: AuthContext) -> Result<Json<TenantLogo>, ApiError> {
    let key = storage::tenant_logo_key(ctx.tenant_id);
    let meta = state
        .store
        .head(&key)
        .await?
        .ok_or_else(|| ApiError::not_found("logo"))?;
    Ok(Json(view(&state, &key, meta.size).await?))
}

/// Set the tenant's logo (admins and owners): a PNG or JPEG of at most
/// 1 MiB and 16-2048 pixels a side, drawn in the top right corner of the
/// audiograms rendered from now on (clips of sources without a picture).
/// It is stored as a PNG.
#[utoipa::path(
    put, path = "/v1/tenant/logo", tag = "tenant", security(("bearer" = [])),
    request_body(
        description = "The image's bytes, as `image/png` or `image/jpeg`",
        content(
            (String = "image/png"),
            (String = "image/jpeg"),
        )
    ),
    responses(
        (status = 200, description = "The logo as stored", body = TenantLogo),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin or owner", body = ApiError, content_type = "application/problem+json"),
        (status = 413, description = "`logo_too_large`: more than 1 MiB", body = ApiError, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_logo_type`: not `image/png` or `image/jpeg`", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_logo`: the body is not an image of its type; \
            `logo_dimensions`: a side under 16 or over 2048 pixels", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn put_logo(
    state: AppState,
    ctx: AuthContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TenantLogo>, ApiError> {
    ctx.require_admin()?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let format = match declared.as_deref() {
        Some("image/png") => ImageFormat::Png,
        Some("image/jpeg") => ImageFormat::Jpeg,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ProblemCode::UnsupportedLogoType,
                format!(
                    "a logo must be sent as image/png or image/jpeg, not {}",
                    other.unwrap_or("a body without a Content-Type")
                ),
            ));
        }
    };
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::LogoTooLarge,
            format!("a logo may be at most {MAX_LOGO_BYTES} bytes (1 MiB)"),
        )
    };
    let bytes = axum::body::to_bytes(body, MAX_LOGO_BYTES)
        .await
        .map_err(|_| too_large())?;
    // Decoding is CPU work: off the async threads.
    let png = tokio::task::spawn_blocking(move || reencode(&bytes, format)).await??;
    let file = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    tokio::fs::write(file.path(), &png)
        .await
        .map_err(ApiError::internal)?;
    let key = storage::tenant_logo_key(ctx.tenant_id);
    state.store.put_file(&key, file.path(), "image/png").await?;
    tracing::info!(tenant.id = %ctx.tenant_id, actor = %ctx.actor(), bytes = png.len(), "tenant logo set");
    Ok(Json(view(&state, &key, png.len() as u64).await?))
}

/// The upload decoded as `format` (within the size limits, so a small
/// file that unpacks to a huge picture is refused before it is
/// allocated) and encoded again as an RGBA PNG.
fn reencode(bytes: &[u8], format: ImageFormat) -> Result<Vec<u8>, ApiError> {
    let name = if format == ImageFormat::Png {
        "PNG"
    } else {
        "JPEG"
    };
    let invalid = |e: image::ImageError| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::InvalidLogo,
            format!("the body is not a {name} image ({e})"),
        )
    };
    let dimensions = |(w, h): (u32, u32)| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::LogoDimensions,
            format!(
                "the logo is {w}x{h} pixels; each side must be {MIN_LOGO_SIDE}-{MAX_LOGO_SIDE}"
            ),
        )
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_LOGO_SIDE);
    limits.max_image_height = Some(MAX_LOGO_SIDE);
    reader.limits(limits);
    let size = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(invalid)?;
    let (w, h) = size;
    if !(MIN_LOGO_SIDE..=MAX_LOGO_SIDE).contains(&w)
        || !(MIN_LOGO_SIDE..=MAX_LOGO_SIDE).contains(&h)
    {
        return Err(dimensions(size));
    }
    let image = reader.decode().map_err(invalid)?;
    let mut png = Vec::new();
    image::DynamicImage::ImageRgba8(image.to_rgba8())
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(ApiError::internal)?;
    Ok(png)
}

/// Remove the tenant's logo (admins and owners): audiograms rendered from
/// now on have none. Removing a logo that is not there is not an error.
#[utoipa::path(
    delete, path = "/v1/tenant/logo", tag = "tenant", security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`unauthorized`", body = ApiError, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin or owner", body = ApiError, content_type = "application/problem+json"),
    )
)]
async fn delete_logo(state: AppState, ctx: AuthContext) -> Result<StatusCode, ApiError> {
    ctx.require_admin()?;
    state
        .store
        .delete(&storage::tenant_logo_key(ctx.tenant_id))
        .await?;
    tracing::info!(tenant.id = %ctx.tenant_id, actor = %ctx.actor(), "tenant logo removed");
    Ok(StatusCode::NO_CONTENT)
}

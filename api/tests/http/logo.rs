//! The tenant's logo for audiograms: set by admins and owners, read by
//! everyone in the tenant and nobody outside it, checked and stored as a
//! PNG Cutroom wrote.

use std::io::Cursor;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use image::{ImageFormat, Rgba, RgbaImage};
use tower::ServiceExt;

use super::{Reply, TestApp, assert_problem};

const LOGO: &str = "/v1/tenant/logo";

fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbaImage::from_pixel(width, height, Rgba([200, 30, 160, 255]));
    let mut bytes = Vec::new();
    let image = image::DynamicImage::ImageRgba8(image);
    // JPEG has no alpha.
    let image = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(image.to_rgb8())
    } else {
        image
    };
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

async fn put(t: &TestApp, token: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method(Method::PUT)
        .uri(LOGO)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .unwrap();
    t.send(req).await
}

/// The bytes behind a presigned URL of the local store.
async fn fetch(t: &TestApp, url: &str) -> Vec<u8> {
    let url = url::Url::parse(url).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let res = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn admins_set_the_logo_everyone_in_the_tenant_reads_it() {
    let t = TestApp::new().await;
    let owner = t.signup("logo@example.org").await;
    let admin = t.join(&owner, "logo-admin@example.org", "admin").await;
    let member = t.join(&owner, "logo-member@example.org", "member").await;
    let viewer = t.join(&owner, "logo-viewer@example.org", "viewer").await;
    let other = t.signup("logo-elsewhere@example.org").await;

    let none = t.call(Method::GET, LOGO, Some(&viewer), None).await;
    assert_problem(&none, StatusCode::NOT_FOUND, "not_found");

    // Members and viewers may not set or remove it.
    let png = encoded(64, 32, ImageFormat::Png);
    for token in [&member, &viewer] {
        assert_problem(
            &put(&t, token, "image/png", png.clone()).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        assert_problem(
            &t.call(Method::DELETE, LOGO, Some(token), None).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }

    // A JPEG is taken and stored as a PNG of the same picture.
    let set = put(&t, &admin, "image/jpeg", encoded(64, 32, ImageFormat::Jpeg)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["content_type"], "image/png");
    let got = t.call(Method::GET, LOGO, Some(&viewer), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.body["size_bytes"], set.body["size_bytes"]);
    let stored = fetch(&t, got.body["url"].as_str().unwrap()).await;
    assert_eq!(
        stored.len() as u64,
        got.body["size_bytes"].as_u64().unwrap()
    );
    let decoded = image::load_from_memory_with_format(&stored, ImageFormat::Png)
        .unwrap()
        .to_rgba8();
    assert_eq!(decoded.dimensions(), (64, 32));
    let Rgba([r, g, b, a]) = *decoded.get_pixel(32, 16);
    assert!(
        r.abs_diff(200) < 12 && g.abs_diff(30) < 12 && b.abs_diff(160) < 12 && a == 255,
        "{r} {g} {b} {a}"
    );

    // Another tenant has its own (none); it cannot reach this one.
    assert_problem(
        &t.call(Method::GET, LOGO, Some(&other), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        t.call(Method::DELETE, LOGO, Some(&other), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.call(Method::GET, LOGO, Some(&member), None).await.status,
        StatusCode::OK,
        "another tenant's delete left this logo alone"
    );

    // The owner replaces it, then removes it.
    assert_eq!(
        put(&t, &owner, "image/png", png).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.call(Method::DELETE, LOGO, Some(&owner), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &t.call(Method::GET, LOGO, Some(&admin), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn logos_that_are_not_small_png_or_jpeg_images_are_refused() {
    let t = TestApp::new().await;
    let owner = t.signup("badlogo@example.org").await;
    let png = encoded(64, 64, ImageFormat::Png);

    for content_type in ["image/gif", "text/plain", "application/octet-stream"] {
        assert_problem(
            &put(&t, &owner, content_type, png.clone()).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_logo_type",
        );
    }
    // Not an image, or not the image it says it is.
    for (content_type, bytes) in [
        (
            "image/png",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
        ),
        ("image/png", encoded(64, 64, ImageFormat::Jpeg)),
        ("image/jpeg", png.clone()),
        ("image/png", png[..png.len() / 2].to_vec()),
    ] {
        assert_problem(
            &put(&t, &owner, content_type, bytes).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_logo",
        );
    }
    // Too wide, or too small to see.
    for (w, h) in [(4000, 16), (8, 8)] {
        let r = put(&t, &owner, "image/png", encoded(w, h, ImageFormat::Png)).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "logo_dimensions");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{w}x{h}")),
            "{}",
            r.body
        );
    }
    // Over 1 MiB, whatever it holds.
    assert_problem(
        &put(&t, &owner, "image/png", vec![0; 1024 * 1024 + 1]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "logo_too_large",
    );
    // Nothing was stored by any of it.
    assert_problem(
        &t.call(Method::GET, LOGO, Some(&owner), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

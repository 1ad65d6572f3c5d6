//! The built web app, served on the API's origin.

use super::*;

/// The web app's build folder is served on the API's origin: hashed
/// assets for a year, `index.html` revalidated, page addresses falling
/// back to it; API paths and non-HTML requests keep the API's 404.
#[tokio::test]
async fn the_web_app_is_served_beside_the_api() {
    let web = tempfile::tempdir().unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>app</title>",
    )
    .unwrap();
    std::fs::write(web.path().join("assets/index-abc123.js"), "console.log(1)").unwrap();
    std::fs::write(web.path().join("favicon.svg"), "<svg/>").unwrap();
    let dir = web.path().to_owned();
    let t = TestApp::with_config(move |c| c.web_dir = Some(dir)).await;
    let get = |uri: &str, accept: &str| {
        let req = Request::get(uri)
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        t.send(req)
    };
    let header_of = |r: &Reply, name: header::HeaderName| {
        r.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    let index = get("/", html).await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.body, "<!doctype html><title>app</title>");
    assert_eq!(header_of(&index, header::CACHE_CONTROL), "no-cache");
    assert!(header_of(&index, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));

    let asset = get("/assets/index-abc123.js", "*/*").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        header_of(&asset, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(header_of(&asset, header::CONTENT_TYPE).contains("javascript"));
    let missing = get("/assets/index-gone.js", "*/*").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(header_of(&missing, header::CACHE_CONTROL), "");

    let icon = get("/favicon.svg", "image/*").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(
        header_of(&icon, header::CACHE_CONTROL),
        "public, max-age=3600"
    );

    // The app's own addresses, opened or reloaded in a browser.
    for page in [
        "/jobs",
        "/jobs/019a0000-0000-7000-8000-000000000000",
        "/settings/keys",
    ] {
        let r = get(page, html).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert_eq!(r.body, "<!doctype html><title>app</title>", "{page}");
    }
    // Not for programs, not for API paths, not outside the folder.
    assert_problem(
        &get("/jobs", "application/json").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &get("/v1/nothing", html).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let escape = get("/..%2Fsecret.key", html).await;
    assert_ne!(escape.body, "", "{:?}", escape.status);
    assert!(
        !escape.body.to_string().contains("secret"),
        "{}",
        escape.body
    );
    let post = t
        .send(
            Request::post("/jobs")
                .header(header::ACCEPT, html)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_problem(&post, StatusCode::NOT_FOUND, "not_found");

    // Without a build, `/` says how to get one and still points at the API.
    let bare = TestApp::new().await;
    let page = bare
        .send(Request::get("/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.body.as_str().unwrap();
    assert!(text.contains("The web app is not built"), "{text}");
    assert!(text.contains("/docs"), "{text}");
}

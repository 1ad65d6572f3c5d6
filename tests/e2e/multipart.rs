//! Multipart uploads: a file over the threshold (or one whose client asks)
//! goes in presigned parts, put together when the upload is completed
//! with every part's ETag; the same contract on local storage and a real
//! S3-compatible server, for media uploads and batch archives alike.

use chrono::Utc;
use cutroom_core::housekeeping::sweep;
use cutroom_tests::{Db, Store, TestApp, archive, email};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MIB: usize = 1 << 20;

async fn app(store: Store) -> TestApp {
    TestApp::builder(Db::Sqlite)
        .store(store)
        .without_worker()
        .configure(|c| {
            c.upload_part_size = 5 * MIB as u64;
            c.multipart_threshold = 6 * MIB as u64;
        })
        .start()
        .await
}

/// Bytes that differ in every part, so a part put in the wrong place shows.
fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i / 4099 % 251) as u8).collect()
}

async fn media_in_parts(store: Store) {
    let app = app(store).await;
    let s = app.signup(&email("parts"), "Parts").await;
    let file = bytes(11 * MIB + 123);
    let (status, up) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "long.mp4", "content_type": "video/mp4", "size_bytes": file.len()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    // Over the threshold: parts, not one PUT.
    assert_eq!(up["url"], Value::Null, "{up}");
    let parts = up["multipart"]["parts"].as_array().unwrap();
    let sizes: Vec<_> = parts
        .iter()
        .map(|p| p["size_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [5 * MIB as u64, 5 * MIB as u64, MIB as u64 + 123]);
    let id = up["upload_id"].as_str().unwrap();
    let complete = |body: Value| {
        let app = &app;
        let token = s.access_token.clone();
        async move {
            app.post(&format!("/v1/uploads/{id}/complete"), &token, body)
                .await
        }
    };

    // A part of another length is refused by its signed URL.
    let (put, _) = app.put_part(&parts[2], vec![0; 10]).await;
    assert!(put.is_client_error(), "{put}");
    let sent = app.put_parts(&up, &file).await;

    // Completing needs every part, in order, with its own ETag.
    let (status, err) = complete(json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "upload_missing");
    let (status, err) = complete(json!({"parts": [sent[0], sent[1]]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "upload_parts_invalid");
    let (status, err) = complete(json!({"parts": [sent[1], sent[0], sent[2]]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    if let Store::Local = store {
        // S3 refuses a part whose ETag is not its own (`InvalidPart`); the
        // S3-compatible test server does not check them, so only the local
        // store's own check is seen here.
        let mut wrong = sent.clone();
        wrong[1]["etag"] = sent[0]["etag"].clone();
        let (status, err) = complete(json!({"parts": wrong})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["code"], "upload_parts_invalid", "{err}");
    }

    // The refused tries kept the parts: the right list completes it, and
    // the stored file is the sent one, byte for byte.
    let (status, job) = complete(json!({"parts": sent})).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["status"], "queued");
    let key = cutroom_core::storage::upload_key(
        s.tenant_id.parse().unwrap(),
        id.parse().unwrap(),
        "long.mp4",
    );
    let copy = app.dir.path().join("stored.bin");
    app.app.store.get_to_file(&key, &copy).await.unwrap();
    assert!(
        std::fs::read(&copy).unwrap() == file,
        "the parts were put together wrongly"
    );
    let (status, _) = complete(json!({"parts": sent})).await;
    assert_eq!(status, StatusCode::CONFLICT, "completed once");

    // A client may ask for parts below the threshold: one part here.
    let (status, small) = app
        .post(
            "/v1/uploads",
            &s.access_token,
            json!({"filename": "short.mp3", "content_type": "audio/mpeg", "size_bytes": 1000, "multipart": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{small}");
    assert_eq!(small["multipart"]["parts"].as_array().unwrap().len(), 1);
    // Abandoned, its parts go with it when the sweeper expires it.
    let sent = app.put_parts(&small, &bytes(1000)).await;
    assert_eq!(sent.len(), 1);
    let later = Utc::now() + chrono::Duration::days(8);
    assert!(
        sweep::expired_uploads(&app.housekeeper, later)
            .await
            .unwrap()
            >= 1
    );
    let (put, _) = app
        .put_part(&small["multipart"]["parts"][0], bytes(1000))
        .await;
    assert!(put.is_client_error(), "a part of a swept upload: {put}");
    if let Store::Local = store {
        let hidden = walk(app.dir.path())
            .into_iter()
            .filter(|p| p.contains(".parts-"))
            .collect::<Vec<_>>();
        assert!(hidden.is_empty(), "parts left behind: {hidden:?}");
    }
}

/// Every path under `dir`.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_uploads_in_parts_local() {
    media_in_parts(Store::Local).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_uploads_in_parts_s3() {
    media_in_parts(Store::S3).await
}

/// A batch's archive in parts: `start` lists them, and the unpack job is
/// queued on the whole archive.
async fn archive_in_parts(store: Store) {
    let app = app(store).await;
    let s = app.signup(&email("bparts"), "Batch parts").await;
    // Incompressible padding makes the archive span two parts.
    let noise = cutroom_tests::noise(6 * MIB);
    let tar = archive::tar_gz(&[("notes/padding.bin".to_owned(), noise)]);
    assert!(tar.len() > 5 * MIB, "{}", tar.len());
    let (status, created) = app
        .post(
            "/v1/batches",
            &s.access_token,
            json!({"name": "big.tar.gz", "size_bytes": tar.len()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let upload = &created["upload"];
    assert_eq!(
        upload["multipart"]["parts"].as_array().unwrap().len(),
        2,
        "{upload}"
    );
    let id = created["batch"]["id"].as_str().unwrap();
    let sent = app.put_parts(upload, &tar).await;
    let (status, err) = app
        .post(
            &format!("/v1/batches/{id}/start"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "upload_missing");
    let (status, batch) = app
        .post(
            &format!("/v1/batches/{id}/start"),
            &s.access_token,
            json!({"parts": sent}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{batch}");
    assert_eq!(batch["status"], "unpacking");
    let (status, job) = app
        .get(
            &format!("/v1/jobs/{}", batch["unpack_job_id"].as_str().unwrap()),
            &s.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "queued");
    let (key, size) = (
        job["source"]["object_key"].clone(),
        app.app.store.list("uploads/").await.unwrap(),
    );
    assert_eq!(size.len(), 1, "{key} {size:?}");
    assert_eq!(size[0].size, tar.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_archives_in_parts_local() {
    archive_in_parts(Store::Local).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_archives_in_parts_s3() {
    archive_in_parts(Store::S3).await
}

//! A job from an upload, on local storage and S3: the original is deleted
//! after the job, only its outputs stay, and deleting the job removes them.

use cutroom_tests::{Db, Store, TestApp, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{GAPS, JOB_LIMIT, assert_silences_match, fetch_output};

async fn upload_job(db: Db, store: Store) {
    let app = TestApp::builder(db).store(store).start().await;
    let s = app.signup(&email("upl"), "Uploader").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lecture.mp4");
    media::talk_with_gaps(&file, 10.0, &GAPS);

    let upload_id = app
        .upload(
            &s.access_token,
            "lecture.mp4",
            "video/mp4",
            std::fs::read(&file).unwrap(),
        )
        .await;
    let uploads = cutroom_core::storage::uploads_prefix(s.tenant_id.parse().unwrap());
    assert_eq!(
        app.stored_keys(&uploads).await.len(),
        1,
        "the original is in storage until the worker has it"
    );

    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let silences: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "silences.json").await).unwrap();
    assert_silences_match(&silences, 10.0);

    assert!(
        app.stored_keys(&uploads).await.is_empty(),
        "the original is deleted after the job"
    );
    // The whole store holds exactly what the API lists for the job: its
    // outputs and its clips' files, and nothing else (no original, no
    // scratch file, no stray part).
    let job_id = job["id"].as_str().unwrap();
    let prefix =
        cutroom_core::storage::job_prefix(s.tenant_id.parse().unwrap(), job_id.parse().unwrap());
    let mut listed: std::collections::BTreeSet<String> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{prefix}{}", o["name"].as_str().unwrap()))
        .collect();
    let (_, clips) = app
        .get(&format!("/v1/jobs/{job_id}/clips"), &s.access_token)
        .await;
    for c in clips["items"].as_array().unwrap() {
        for f in c["files"].as_array().unwrap() {
            listed.insert(format!("{prefix}{}", f["name"].as_str().unwrap()));
        }
    }
    let stored: std::collections::BTreeSet<String> =
        app.stored_keys("").await.into_iter().collect();
    assert_eq!(stored, listed, "only the job's outputs remain");
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );

    // Deleting the job removes its outputs too.
    let (status, _) = app
        .delete(&format!("/v1/jobs/{job_id}"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        app.stored_keys(&format!("tenants/{}/", s.tenant_id))
            .await
            .is_empty()
    );
    let (status, _) = app
        .get(&format!("/v1/jobs/{job_id}"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_s3_sqlite() {
    upload_job(Db::Sqlite, Store::S3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_s3_postgres() {
    upload_job(Db::Postgres, Store::S3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_local_sqlite() {
    upload_job(Db::Sqlite, Store::Local).await
}

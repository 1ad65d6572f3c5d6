//! A worker killed while it unpacks a batch: the next one unpacks it again
//! and the batch completes with exactly one child per recording.

use std::{collections::BTreeSet, time::Duration};

use cutroom_tests::{SourceServer, ThrottledProxy, email, fleet::WorkerProcess};
use reqwest::StatusCode;
use serde_json::json;

use super::{WORKER, fleet};
use crate::batches::{archive, children, recordings, stem, submit, wait_for_batch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_worker_dies_unpacking_gets_each_child_once() {
    let source = SourceServer::start().await;
    let app = fleet(&source, 5).await;
    let s = app.signup(&email("unpack"), "Unpack").await;
    let token = s.access_token.as_str();
    let dir = tempfile::tempdir().unwrap();
    let files = 10;
    let bytes = archive(&recordings(dir.path(), files), None);
    // The first worker's storage is slow: each recording it stores takes
    // a while, so it dies with some children made and some not.
    let proxy = ThrottledProxy::in_front_of_s3(&app).await;
    proxy.set_slow(true);
    let mut a = WorkerProcess::spawn_with(WORKER, &app, &[("S3_ENDPOINT", proxy.url())]);
    let started = submit(&app, token, bytes, json!({"job": {"clips": {"count": 0}}})).await;
    let id = started["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let (status, page) = app.get(&format!("/v1/batches/{id}/jobs"), token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        if page["items"].as_array().unwrap().len() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no child made: {}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.kill();
    let (_, batch) = app.get(&format!("/v1/batches/{id}"), token).await;
    assert_eq!(batch["status"], "unpacking", "killed too late: {batch}");
    let made = batch["jobs"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum::<u64>();
    assert!(made < files as u64, "killed too late: {batch}");
    proxy.set_slow(false);
    let b = WorkerProcess::spawn(WORKER, &app);
    let batch = wait_for_batch(&app, token, &id).await;
    assert_eq!(batch["status"], "completed", "{batch}\n{}", b.log_tail());
    assert_eq!(batch["jobs"]["succeeded"], files, "{batch}");
    let jobs = children(&app, token, &id).await;
    let paths: BTreeSet<String> = jobs
        .iter()
        .map(|j| j["entry_path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(jobs.len(), files, "a child made twice: {jobs:?}");
    let want: BTreeSet<String> = (0..files)
        .map(|i| format!("recordings/{}.mp3", stem(i)))
        .collect();
    assert_eq!(paths, want);
    let (_, unpack) = app
        .get(
            &format!("/v1/jobs/{}", batch["unpack_job_id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(unpack["attempts"], 2, "{unpack}");
    let originals = app.stored_keys(&format!("uploads/{}/", s.tenant_id)).await;
    assert_eq!(originals, Vec::<String>::new());
}

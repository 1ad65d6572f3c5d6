//! The load test: many clients, two API replicas, four workers.

use std::{collections::BTreeSet, time::Duration};

use cutroom_tests::{Db, TestApp, email};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::LIMIT;

/// The load test: 1,000 jobs submitted at once by 50 clients (ten tenants,
/// five API keys each) through two API replicas, four workers running the
/// queue's whole path with no media stages (`Worker::without_stages`).
/// Exactly 1,000 jobs end, each once: one task each in the queue, one
/// `running` and one `succeeded` event each, one attempt each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_from_fifty_clients_finish_exactly_once() {
    const TENANTS: usize = 10;
    const KEYS: usize = 5;
    const JOBS_EACH: usize = 20;
    const TOTAL: usize = TENANTS * KEYS * JOBS_EACH;
    let first = TestApp::builder(Db::Postgres)
        .without_worker()
        .configure(|c| c.tenant_max_running = 8)
        .start()
        .await;
    let second = TestApp::builder(Db::Postgres)
        .without_worker()
        .share(&first)
        .configure(|c| c.tenant_max_running = 8)
        .start()
        .await;
    let stop = tokio_util::sync::CancellationToken::new();
    for _ in 0..4 {
        let w = cutroom_worker::Worker::new(
            first.app.config.clone(),
            first.app.db.clone(),
            first.app.store.clone(),
        )
        .without_stages();
        tokio::spawn(w.run(stop.clone()));
    }
    let mut keys = Vec::new();
    for t in 0..TENANTS {
        let s = first.signup(&email(&format!("load{t}")), "Load").await;
        for k in 0..KEYS {
            let (status, key) = first
                .post(
                    "/v1/api-keys",
                    &s.access_token,
                    json!({"name": format!("client {k}"), "role": "member"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{key}");
            keys.push(key["key"].as_str().unwrap().to_owned());
        }
    }

    let first = std::sync::Arc::new(first);
    let second = std::sync::Arc::new(second);
    let clients: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let app = if i % 2 == 0 { &first } else { &second }.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(JOBS_EACH);
                for n in 0..JOBS_EACH {
                    let (status, job) = app
                        .post(
                            "/v1/jobs",
                            &key,
                            json!({"source": {"type": "youtube", "url": format!("https://youtu.be/dQw4w9WgX{:02}", n)}}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::CREATED, "{job}");
                    ids.push(job["id"].as_str().unwrap().parse::<Uuid>().unwrap());
                }
                ids
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for c in clients {
        ids.extend(c.await.unwrap());
    }
    assert_eq!(ids.len(), TOTAL, "one id per accepted job");

    let db = &first.app.db.orm;
    let done = || async {
        cutroom_entities::job::Entity::find()
            .filter(
                cutroom_entities::job::Column::Status.eq(cutroom_entities::JobStatus::Succeeded),
            )
            .count(db)
            .await
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + LIMIT;
    while done().await < TOTAL as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {TOTAL} jobs done in {LIMIT:?}",
            done().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let anything that would run a job twice have its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();

    super::assert_each_ran_once(&first, &ids).await;
    let (status, list) = first.get("/v1/admin/workers", "not-needed").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{list}");
    let workers = cutroom_core::queries::workers::list(
        db,
        chrono::Utc::now() - chrono::Duration::hours(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(workers.len(), 4, "{workers:?}");
    assert_eq!(
        workers.iter().map(|w| w.jobs_succeeded).sum::<i64>(),
        TOTAL as i64,
        "{workers:?}"
    );
}

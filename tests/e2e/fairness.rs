//! Fairness between tenants: with `tenant_max_running` = 2, a tenant's
//! third job waits for one of its own to end (never refused, never in
//! front of another tenant's), waiting jobs go to the workers oldest
//! first, and cancelling one frees its slot at once.

use std::time::Duration;

use cutroom_core::queries::jobs::Claim;
use cutroom_entities::{JobStatus, job};
use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn submit(app: &TestApp, token: &str) -> Value {
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

/// Jobs of the tenant with the workers (queued for one, or running).
async fn in_flight(app: &TestApp, tenant: Uuid) -> usize {
    job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant))
        .filter(job::Column::DispatchedAt.is_not_null())
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .all(&app.app.db.orm)
        .await
        .unwrap()
        .len()
}

async fn a_tenant_waits_behind_its_own_slots(db: Db) {
    let app = TestApp::builder(db)
        .without_worker()
        .configure(|c| c.tenant_max_running = 2)
        .start()
        .await;
    let a = app.signup(&email("busy"), "Busy").await;
    let b = app.signup(&email("quiet"), "Quiet").await;
    let tenant_a: Uuid = a.tenant_id.parse().unwrap();

    let mut jobs_a = Vec::new();
    for _ in 0..5 {
        jobs_a.push(submit(&app, &a.access_token).await);
    }
    let waiting: Vec<bool> = jobs_a
        .iter()
        .map(|j| j["waiting_for_slot"].as_bool().unwrap())
        .collect();
    assert_eq!(
        waiting,
        [false, false, true, true, true],
        "the two oldest go first"
    );
    let job_b = submit(&app, &b.access_token).await;
    assert_eq!(
        job_b["waiting_for_slot"], false,
        "another tenant's backlog does not hold this one back"
    );
    assert_eq!(in_flight(&app, tenant_a).await, 2);

    // Cancelling a job with the workers frees its slot for the next oldest.
    let first = jobs_a[0]["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/jobs/{first}/cancel"),
            &a.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let third = jobs_a[2]["id"].as_str().unwrap();
    let (_, j) = app.get(&format!("/v1/jobs/{third}"), &a.access_token).await;
    assert_eq!(j["waiting_for_slot"], false, "{j}");
    let fourth = jobs_a[3]["id"].as_str().unwrap();
    let (_, j) = app
        .get(&format!("/v1/jobs/{fourth}"), &a.access_token)
        .await;
    assert_eq!(j["waiting_for_slot"], true, "{j}");
    assert_eq!(in_flight(&app, tenant_a).await, 2);

    // A worker runs everything; the tenant never has more than two out.
    let stop = CancellationToken::new();
    let worker = cutroom_worker::Worker::new(
        app.app.config.clone(),
        app.app.db.clone(),
        app.app.store.clone(),
    )
    .without_stages();
    tokio::spawn(worker.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(in_flight(&app, tenant_a).await <= 2);
        let open = job::Entity::find()
            .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .all(&app.app.db.orm)
            .await
            .unwrap();
        if open.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still open: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();

    // Every job ended; the tenant's ran in the order they were submitted.
    let mut started = Vec::new();
    for j in &jobs_a[1..] {
        let id = j["id"].as_str().unwrap();
        let (_, j) = app.get(&format!("/v1/jobs/{id}"), &a.access_token).await;
        assert_eq!(j["status"], "succeeded", "{j}");
        started.push(j["started_at"].as_str().unwrap().to_owned());
    }
    let mut sorted = started.clone();
    sorted.sort();
    assert_eq!(started, sorted, "oldest first");
    let id = job_b["id"].as_str().unwrap();
    let (_, j) = app.get(&format!("/v1/jobs/{id}"), &b.access_token).await;
    assert_eq!(j["status"], "succeeded", "{j}");
}
both_dbs!(
    tenants_wait_behind_their_own_slots,
    super::a_tenant_waits_behind_its_own_slots
);

/// A job cancelled while its task waited in the queue, then retried, has
/// two tasks there; only the new one may run it (two workers taking both
/// would otherwise run it twice at once).
async fn a_retried_jobs_old_task_finds_nothing_to_do(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let a = app.signup(&email("again"), "Again").await;
    let tenant: Uuid = a.tenant_id.parse().unwrap();
    let job = submit(&app, &a.access_token).await;
    let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let row = |app: &TestApp| {
        let orm = app.app.db.orm.clone();
        async move {
            job::Entity::find_by_id(id)
                .one(&orm)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = row(&app).await.dispatched_at.expect("dispatched");
    let (status, _) = app
        .post(&format!("/v1/jobs/{id}/cancel"), &a.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, retried) = app
        .post(&format!("/v1/jobs/{id}/retry"), &a.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let second = row(&app).await.dispatched_at.expect("dispatched again");
    assert_ne!(first, second);

    let db = &app.app.db.orm;
    let stale = cutroom_core::queries::jobs::claim(db, tenant, id, Some(first), 3)
        .await
        .unwrap();
    assert!(
        matches!(stale, Claim::Skip),
        "the old task must not run the job: {stale:?}"
    );
    let current = cutroom_core::queries::jobs::claim(db, tenant, id, Some(second), 3)
        .await
        .unwrap();
    let Claim::Run { job, lost } = current else {
        panic!("the new task runs the job: {current:?}");
    };
    assert_eq!(
        (job.status, job.attempts, lost),
        (JobStatus::Running, 1, None)
    );
    let twice = cutroom_core::queries::jobs::claim(db, tenant, id, Some(second), 3)
        .await
        .unwrap();
    let Claim::Run { job, lost } = twice else {
        panic!("a running job found again is a lost attempt: {twice:?}");
    };
    assert_eq!((job.attempts, lost), (2, Some(1)));
}
both_dbs!(
    retried_jobs_run_from_their_new_task_only,
    super::a_retried_jobs_old_task_finds_nothing_to_do
);

/// A batch's children wait behind their tenant's own jobs: with one slot,
/// a job submitted while a batch has children waiting goes to the workers
/// before any of them. (Other tenants are never behind a batch at all:
/// its children hold their own tenant's slots only.)
async fn a_batch_waits_behind_its_tenants_own_jobs(db: Db) {
    let app = TestApp::builder(db)
        .without_worker()
        .configure(|c| c.tenant_max_running = 1)
        .start()
        .await;
    let a = app.signup(&email("batchy"), "Batchy").await;
    let b = app.signup(&email("other"), "Other").await;
    let tenant: Uuid = a.tenant_id.parse().unwrap();
    // Children as the unpack job makes them.
    let batch = Uuid::now_v7();
    let mut children = Vec::new();
    for i in 0..3 {
        let mut child = cutroom_core::jobs::new_row(
            tenant,
            "user:test".into(),
            cutroom_entities::SourceType::Upload,
            &Default::default(),
        );
        child.batch_id = Some(batch);
        child.entry_path = Some(format!("recordings/{i}.mp3"));
        child.source_key = Some(format!("uploads/{tenant}/batches/{batch}/{i:06}.mp3"));
        let child = cutroom_core::queue::create_job(&app.app.db, child, None, 1)
            .await
            .unwrap();
        children.push(child.id);
    }
    let row = |id: Uuid| {
        let orm = app.app.db.orm.clone();
        async move {
            job::Entity::find_by_id(id)
                .one(&orm)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert!(row(children[0]).await.dispatched_at.is_some());
    let own = submit(&app, &a.access_token).await;
    assert_eq!(own["waiting_for_slot"], true, "{own}");
    // Another tenant's job is not held back by the batch.
    let theirs = submit(&app, &b.access_token).await;
    assert_eq!(theirs["waiting_for_slot"], false, "{theirs}");
    // The first child ends: the tenant's own job goes next, not a child.
    let db = &app.app.db.orm;
    job::Entity::update_many()
        .col_expr(
            job::Column::Status,
            sea_orm::sea_query::Expr::value(JobStatus::Succeeded),
        )
        .filter(job::Column::Id.eq(children[0]))
        .exec(db)
        .await
        .unwrap();
    cutroom_core::queue::dispatch(&app.app.db, tenant, 1)
        .await
        .unwrap();
    let own_id: Uuid = own["id"].as_str().unwrap().parse().unwrap();
    assert!(
        row(own_id).await.dispatched_at.is_some(),
        "the tenant's own job first"
    );
    for c in &children[1..] {
        assert!(row(*c).await.dispatched_at.is_none(), "a child went first");
    }
}
both_dbs!(
    batches_wait_behind_their_tenants_own_jobs,
    super::a_batch_waits_behind_its_tenants_own_jobs
);

//! The operator's routes (`/v1/admin/*`) and `/metrics`: absent without
//! an operator token, guarded by it otherwise.

use super::*;

#[tokio::test]
async fn operator_routes_and_metrics() {
    // Without an operator token the operator routes do not exist, and the
    // metrics answer clients on the same machine.
    let t = TestApp::new().await;
    let r = t.call(Method::GET, "/v1/admin/workers", None, None).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    let r = t.scrape_from(hardening::LOOPBACK, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    let text = r.body.as_str().unwrap();
    assert!(text.contains("cutroom_jobs{status=\"queued\"} 0"), "{text}");

    let operator = "an-operator-token-that-is-long-enough";
    let t = TestApp::with_config(|c| c.operator_token = Some(operator.to_owned().into())).await;
    let owner = t.signup("ops@example.org").await;
    let r = t.call(Method::GET, "/v1/admin/workers", None, None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = t
        .call(Method::GET, "/v1/admin/workers", Some(&owner), None)
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = t.call(Method::GET, "/metrics", Some(&owner), None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    // A job waits for a worker; a worker holds another.
    let r = t
        .call(
            Method::POST,
            "/v1/jobs",
            Some(&owner),
            Some(json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let job: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let row = cutroom_entities::job::Entity::find_by_id(job)
        .one(&t.app.db.orm)
        .await
        .unwrap()
        .unwrap();
    let db = &t.app.db.orm;
    cutroom_core::queries::workers::register(db, "cutroom-worker-test-1", "test", 1, "0.0.0")
        .await
        .unwrap();
    cutroom_core::queries::workers::took(db, "cutroom-worker-test-1", row.tenant_id, job)
        .await
        .unwrap();
    cutroom_core::queries::workers::register(db, "cutroom-worker-test-2", "test", 2, "0.0.0")
        .await
        .unwrap();
    // Prime the stage counter, then complete a stage after it.
    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    cutroom_core::queries::events::record(
        db,
        row.tenant_id,
        job,
        cutroom_core::events::JobEvent::StageCompleted(cutroom_core::Stage::Transcribe),
        Some(json!({"elapsed_ms": 1500})),
    )
    .await
    .unwrap();

    let r = t
        .call(Method::GET, "/v1/admin/workers", Some(operator), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["busy"].clone(), r.body["idle"].clone()),
        (json!(1), json!(1))
    );
    let busy = r.body["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["state"] == "busy")
        .unwrap();
    assert_eq!(busy["id"], "cutroom-worker-test-1");
    assert_eq!(busy["current_job"]["id"], job.to_string());

    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let text = r.body.as_str().unwrap();
    for line in [
        "cutroom_jobs{status=\"queued\"} 1",
        "cutroom_jobs{status=\"succeeded\"} 0",
        "cutroom_queue_depth{state=\"dispatched\"} 1",
        "cutroom_queue_depth{state=\"waiting_for_slot\"} 0",
        "cutroom_workers{state=\"busy\"} 1",
        "cutroom_workers{state=\"idle\"} 1",
        "cutroom_stage_duration_seconds_sum{stage=\"transcribe\"} 1.5",
        "cutroom_stage_duration_seconds_count{stage=\"transcribe\"} 1",
        "cutroom_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 1",
        "cutroom_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/admin/workers\",status=\"200\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // A route template, never a raw path with ids.
    assert!(!text.contains(&job.to_string()), "{text}");
}

/// The fleet page's data: workers with their job's stage, the queue's
/// depth and age, load by tenant, the last hour's endings and failures by
/// code; `/metrics` carries the queue's age too.
#[tokio::test]
async fn the_fleet_at_a_glance() {
    let operator = "an-operator-token-that-is-long-enough";
    let t = TestApp::with_config(|c| c.operator_token = Some(operator.to_owned().into())).await;
    let owner = t.signup("fleet@example.org").await;
    let r = t
        .call(Method::GET, "/v1/admin/fleet", Some(&owner), None)
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let r = t
            .call(
                Method::POST,
                "/v1/jobs",
                Some(&owner),
                Some(json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
        jobs.push(
            cutroom_entities::job::Entity::find_by_id(id)
                .one(&t.app.db.orm)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let db = &t.app.db.orm;
    // One runs (in `transcribe`) on a worker, one failed, one waits.
    for j in &jobs[..2] {
        let claimed = cutroom_core::queries::jobs::claim(db, j.tenant_id, j.id, j.dispatched_at, 3)
            .await
            .unwrap();
        assert!(matches!(
            claimed,
            cutroom_core::queries::jobs::Claim::Run { .. }
        ));
    }
    cutroom_core::queries::workers::register(db, "cutroom-worker-fleet-1", "test", 1, "0.0.0")
        .await
        .unwrap();
    cutroom_core::queries::workers::took(
        db,
        "cutroom-worker-fleet-1",
        jobs[0].tenant_id,
        jobs[0].id,
    )
    .await
    .unwrap();
    cutroom_core::queries::jobs::set_progress(db, jobs[0].tenant_id, jobs[0].id, "transcribe", 40)
        .await
        .unwrap();
    assert!(
        cutroom_core::queries::jobs::finish(
            db,
            jobs[1].tenant_id,
            jobs[1].id,
            Some(1),
            cutroom_entities::JobStatus::Failed,
            Some((cutroom_core::ErrorCode::SourceUnavailable, "gone".into())),
        )
        .await
        .unwrap()
    );

    let r = t
        .call(Method::GET, "/v1/admin/fleet", Some(operator), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let f = &r.body;
    assert_eq!(f["workers"]["busy"], 1, "{f}");
    let busy = &f["workers"]["workers"][0];
    assert_eq!(busy["current_job"]["id"], jobs[0].id.to_string(), "{f}");
    assert_eq!(busy["current_job"]["stage"], "transcribe", "{f}");
    assert_eq!(f["queue"]["dispatched"], 1, "{f}");
    assert!(
        f["queue"]["oldest_dispatched_age_seconds"]
            .as_f64()
            .unwrap()
            >= 0.0,
        "{f}"
    );
    let tenants = f["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{f}");
    assert_eq!(
        (tenants[0]["queued"].clone(), tenants[0]["running"].clone()),
        (json!(1), json!(1)),
        "{f}"
    );
    assert_eq!(
        f["last_hour"],
        json!({"succeeded": 0, "failed": 1, "cancelled": 0}),
        "{f}"
    );
    assert_eq!(
        f["failures_last_day"],
        json!([{"code": "source_unavailable", "count": 1}]),
        "{f}"
    );
    assert_eq!(f["batches"], json!([]), "{f}");

    // With prefetch the worker takes the next job before the first ends:
    // the first's end leaves the second as its current job.
    let w = "cutroom-worker-fleet-1";
    cutroom_core::queries::workers::took(db, w, jobs[2].tenant_id, jobs[2].id)
        .await
        .unwrap();
    cutroom_core::queries::workers::done(db, w, jobs[0].id, Some(true))
        .await
        .unwrap();
    let current = |list: Vec<cutroom_entities::worker::Model>| {
        list.into_iter().find(|x| x.id == w).unwrap().current_job_id
    };
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let list = cutroom_core::queries::workers::list(db, since, 10)
        .await
        .unwrap();
    assert_eq!(current(list), Some(jobs[2].id));
    cutroom_core::queries::workers::done(db, w, jobs[2].id, Some(true))
        .await
        .unwrap();
    let list = cutroom_core::queries::workers::list(db, since, 10)
        .await
        .unwrap();
    assert_eq!(current(list), None);

    // A stage completed after a first scrape, so its histogram is there.
    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    cutroom_core::queries::events::record(
        db,
        jobs[0].tenant_id,
        jobs[0].id,
        cutroom_core::events::JobEvent::StageCompleted(cutroom_core::Stage::Fetch),
        Some(json!({"elapsed_ms": 800})),
    )
    .await
    .unwrap();
    let r = t.call(Method::GET, "/metrics", Some(operator), None).await;
    let text = r.body.as_str().unwrap();
    let age: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cutroom_queue_oldest_age_seconds "))
        .unwrap_or_else(|| panic!("no queue age in\n{text}"))
        .parse()
        .unwrap();
    assert!(age >= 0.0, "{text}");

    // The Grafana dashboard in docs/ asks only for series that exist.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/grafana/cutroom-fleet.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    for expr in exprs {
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("cutroom_"))
        {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# TYPE {family} "))),
                "the dashboard's {name} is not in /metrics:\n{text}"
            );
        }
    }
}

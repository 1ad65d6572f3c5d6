//! Jobs: validated at creation, listed and cancelled, and given the
//! tenant's default model when they name none.

use super::*;

#[tokio::test]
async fn youtube_jobs_are_validated_listed_and_cancelled() {
    let t = TestApp::new().await;
    let token = t.signup("yt@example.org").await;
    let bad = json!({"source": {"type": "youtube", "url": "http://169.254.169.254/latest"}});
    assert_problem(
        &t.call(Method::POST, "/v1/jobs", Some(&token), Some(bad))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_source_url",
    );
    let unknown = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": {"silense": {}}});
    assert_problem(
        &t.call(Method::POST, "/v1/jobs", Some(&token), Some(unknown))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // Transcription options a model cannot honour are refused up front,
    // with a message that says what would work.
    for (options, says) in [
        (
            json!({"transcription": {"model": "large"}}),
            "tiny.en, base",
        ),
        (
            json!({"transcription": {"language": "xx"}}),
            "not a language",
        ),
        (
            json!({"transcription": {"model": "tiny.en", "language": "de"}}),
            "to base",
        ),
        (
            json!({"transcription": {"language": "de"}}),
            "this server's default",
        ),
    ] {
        let body = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": options});
        let r = t
            .call(Method::POST, "/v1/jobs", Some(&token), Some(body))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }

    let ok = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": {"silence": {"min_silence_ms": 300}}});
    let job = t
        .call(Method::POST, "/v1/jobs", Some(&token), Some(ok))
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.body);
    assert_eq!(
        job.body["source"]["url"],
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    );
    assert_eq!(job.body["options"]["silence"]["min_silence_ms"], 300);
    let id = job.body["id"].as_str().unwrap().to_owned();

    let page = t
        .call(
            Method::GET,
            "/v1/jobs?status=queued&limit=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(page.body["items"][0]["id"], id.as_str(), "{}", page.body);
    assert_eq!(page.body["next_cursor"], Value::Null);
    let bad_limit = t
        .call(Method::GET, "/v1/jobs?limit=0", Some(&token), None)
        .await;
    assert_problem(
        &bad_limit,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let cancelled = t
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::ACCEPTED, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["error"]["code"], "cancelled");
    let again = t
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "job_finished");

    assert_eq!(
        t.call(
            Method::DELETE,
            &format!("/v1/jobs/{id}"),
            Some(&token),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_problem(
        &t.call(Method::GET, &format!("/v1/jobs/{id}"), Some(&token), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &t.call(Method::GET, "/v1/jobs/not-a-uuid", Some(&token), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn jobs_without_a_model_take_the_tenant_default() {
    // The server's default knows every language; the tenant's will not.
    let t = TestApp::with_config(|c| c.whisper_model = "base".into()).await;
    let owner = t.signup("defaults@example.org").await;
    let other = t.signup("neighbour@example.org").await;
    let submit = async |token: &str, options: Value| {
        let body = json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}, "options": options});
        t.call(Method::POST, "/v1/jobs", Some(token), Some(body))
            .await
    };
    let model_of = |r: &Reply| r.body["options"]["transcription"]["model"].clone();

    // Before a tenant default, the server's applies when the job runs and
    // nothing is written into the job.
    let french = json!({"transcription": {"language": "fr"}});
    let before = submit(&owner, french.clone()).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);
    assert_eq!(model_of(&before), Value::Null);

    let tiny = json!({"transcription": {"model": "tiny.en"}});
    let set = t
        .call(
            Method::PATCH,
            "/v1/tenant/settings",
            Some(&owner),
            Some(tiny),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);

    // The tenant default is stored with the job, so the worker runs it;
    // a model the job names wins.
    let plain = submit(&owner, json!({})).await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    assert_eq!(model_of(&plain), "tiny.en");
    let id = plain.body["id"].as_str().unwrap();
    let stored = t
        .call(Method::GET, &format!("/v1/jobs/{id}"), Some(&owner), None)
        .await;
    assert_eq!(model_of(&stored), "tiny.en", "{}", stored.body);
    let chosen = submit(&owner, json!({"transcription": {"model": "base"}})).await;
    assert_eq!(model_of(&chosen), "base", "{}", chosen.body);

    // Validation uses the default that applies: tiny.en knows no French.
    let refused = submit(&owner, french.clone()).await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("this tenant's default"),
        "{}",
        refused.body
    );

    // The neighbour still gets the server's default.
    let theirs = submit(&other, french).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert_eq!(model_of(&theirs), Value::Null);
}

//! Live progress: `GET /v1/jobs/{id}/events` as Server-Sent Events. The
//! stream sends stored events with their ids, progress as it moves and
//! `end` when the job ends, then closes; `Last-Event-ID` resumes it.

use std::time::Duration;

use cutroom_tests::{Db, TestApp, both_dbs, email};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads a whole stream (it must close by itself within 30 s). A minimal
/// parser of the format: `field: value` lines, events split by a blank
/// line, comments (keep-alives) skipped.
async fn read_stream(app: &TestApp, token: &str, job: &str, last: Option<&str>) -> Vec<Sse> {
    let mut req = app
        .client
        .get(format!("{}/v1/jobs/{job}/events", app.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream");
    if let Some(l) = last {
        req = req.header("last-event-id", l);
    }
    let mut res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = res.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("the stream closes after `end`");
    text.split("\n\n")
        .filter_map(|block| {
            let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
            for line in block.lines() {
                match line.split_once(':') {
                    Some(("event", v)) => event = v.trim().to_owned(),
                    Some(("id", v)) => id = Some(v.trim().to_owned()),
                    Some(("data", v)) => data.push_str(v.trim()),
                    _ => {}
                }
            }
            (!data.is_empty()).then(|| Sse {
                event,
                id,
                data: serde_json::from_str(&data).unwrap(),
            })
        })
        .collect()
}

async fn a_cancelled_job_streams_to_its_end(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let s = app.signup(&email("live"), "Live Co").await;
    let token = &s.access_token;
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["id"].as_str().unwrap().to_owned();

    // Open the stream, see the job queued, then cancel it: the open
    // stream gets the rest live and closes.
    let mut live = app
        .client
        .get(format!("{}/v1/jobs/{id}/events", app.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut raw = String::new();
    while !raw.contains("event: progress") {
        let chunk = live.chunk().await.unwrap().expect("the stream stays open");
        raw.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(raw.contains("\"queued\""), "{raw}");
    assert!(!raw.contains("event: end"), "{raw}");
    let (status, _) = app
        .post(&format!("/v1/jobs/{id}/cancel"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = live.chunk().await.unwrap() {
            raw.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("the live stream ends when the job does");
    assert!(raw.contains("event: end"), "{raw}");
    assert!(raw.contains("\"cancelled\""), "{raw}");

    let events = read_stream(&app, token, &id, None).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["status", "status", "progress", "end"], "{events:?}");
    assert_eq!(events[0].data["message"], "queued");
    assert_eq!(events[1].data["message"], "cancelled");
    assert_eq!(events[2].data["status"], "cancelled");
    assert_eq!(events[3].data["status"], "cancelled");
    assert_eq!(events[3].data["error"]["code"], "cancelled");
    // Stored events carry their ids, the same as the JSON history's.
    let (_, history) = app.get(&format!("/v1/jobs/{id}/events"), token).await;
    assert_eq!(
        events[0].id.as_deref(),
        history[0]["id"].as_str(),
        "{history}"
    );

    // Resuming after the first event gives only what came later.
    let resumed = read_stream(&app, token, &id, events[0].id.as_deref()).await;
    let names: Vec<&str> = resumed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["status", "progress", "end"], "{resumed:?}");
    assert_eq!(resumed[0].data["message"], "cancelled");

    let other = app.signup(&email("other"), "Other").await;
    let res = app
        .client
        .get(format!("{}/v1/jobs/{id}/events", app.base))
        .bearer_auth(&other.access_token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
both_dbs!(
    live_events_stream_a_job_to_its_end,
    super::a_cancelled_job_streams_to_its_end
);

/// Reads `live` until an event for job `id` whose status is `status`
/// arrives (within 30 s); returns everything read so far.
async fn until_job(live: &mut reqwest::Response, raw: &mut String, id: &str, status: &str) {
    let want = format!("\"status\":\"{status}\"");
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let seen = raw
                .split("\n\n")
                .any(|b| b.contains("event: job") && b.contains(id) && b.contains(&want));
            if seen {
                return;
            }
            let chunk = live.chunk().await.unwrap().expect("the stream stays open");
            raw.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `job` event for {id} as {status}:\n{raw}"));
}

/// The jobs list's stream: one connection sees every job of its tenant
/// change, a job made just before it opened included, and none of another
/// tenant's.
async fn the_tenant_stream_follows_every_job(db: Db) {
    let app = TestApp::builder(db).without_worker().start().await;
    let s = app.signup(&email("list"), "List Co").await;
    let other = app.signup(&email("stranger"), "Stranger").await;
    let submit = |token: String| {
        let app = &app;
        async move {
            let (status, job) = app
                .post(
                    "/v1/jobs",
                    &token,
                    json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{job}");
            job["id"].as_str().unwrap().to_owned()
        }
    };
    // Made before the stream opens: its last ten seconds are replayed.
    let before = submit(s.access_token.clone()).await;
    let theirs = submit(other.access_token.clone()).await;

    let mut live = app
        .client
        .get(format!("{}/v1/jobs", app.base))
        .bearer_auth(&s.access_token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let mut raw = String::new();
    until_job(&mut live, &mut raw, &before, "queued").await;

    let after = submit(s.access_token.clone()).await;
    until_job(&mut live, &mut raw, &after, "queued").await;
    let (status, _) = app
        .post(
            &format!("/v1/jobs/{before}/cancel"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    until_job(&mut live, &mut raw, &before, "cancelled").await;

    // Each change once: the queued state of `after` was sent one time.
    let sent = raw
        .split("\n\n")
        .filter(|b| b.contains("event: job") && b.contains(&after))
        .count();
    assert_eq!(sent, 1, "{raw}");
    assert!(
        !raw.contains(&theirs),
        "another tenant's job leaked:\n{raw}"
    );
    // The events are the list's own items.
    let data = raw
        .split("\n\n")
        .find(|b| b.contains(&after))
        .and_then(|b| b.lines().find_map(|l| l.strip_prefix("data:")))
        .unwrap();
    let item: Value = serde_json::from_str(data.trim()).unwrap();
    let (_, page) = app.get("/v1/jobs", &s.access_token).await;
    let listed = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == after.as_str())
        .unwrap();
    assert_eq!(item["status"], listed["status"]);
    assert_eq!(item["source"], listed["source"]);
}
both_dbs!(
    the_jobs_list_streams_every_change,
    super::the_tenant_stream_follows_every_job
);

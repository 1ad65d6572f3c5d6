//! Moderation through the whole pipeline: a spoken threat is flagged under
//! the job's policy, lands in the tenant's review queue (and no other
//! tenant's), is decided with an audit trail, and shows in the daily
//! statistics.

use std::time::Duration;

use cutroom_tests::{
    Db, Session, SourceServer, TestApp, both_dbs, email, media, webhooks::Receiver,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::pipeline::fetch_output;

const JOB_LIMIT: Duration = Duration::from_secs(120);

/// A threat in speech is flagged, held, reviewed across tenants, decided and
/// counted, following one job from submission to the daily statistics.
async fn flagged_speech_is_reviewed(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("threat.mp4"),
        "I am going to kill you when I see you. <break time=\"1500ms\"/> \
         Thank you all for coming to the meeting today. <break time=\"1500ms\"/> \
         The weather looks lovely this afternoon in the park.",
    );
    let receiver = Receiver::start(&[]).await;
    let app = TestApp::builder(db)
        .allow_source(&source)
        .configure({
            let addr = receiver.addr.clone();
            move |c| {
                c.webhooks.private_hosts.insert(addr);
                c.webhooks.poll_interval = Duration::from_millis(50);
            }
        })
        .start()
        .await;
    let s = app.signup(&email("mod"), "Moderated").await;
    let (id, job) = submit_and_wait(&app, &s, &source, &receiver).await;
    let (flag_id, span) = check_open_flag(&app, &s, &id).await;
    check_held_highlights(&app, &s, &id, &flag_id, span).await;
    check_clips_and_outputs(&app, &s, &id, &flag_id, span).await;
    check_filters(&app, &s, &id).await;
    check_moderation_report(&app, &job).await;
    let other = other_tenant_cannot_decide(&app, &flag_id).await;
    decide_flag(&app, &s, &other, &id, &flag_id).await;
    check_released_clips(&app, &s, &id).await;
    check_stats(&app, &s).await;
}

/// Whether a highlight or clip overlaps the flagged span.
fn overlaps((flag_start, flag_end): (f64, f64), h: &Value) -> bool {
    h["start"].as_f64().unwrap() < flag_end && flag_start < h["end"].as_f64().unwrap()
}

/// The job, with threats blocked, succeeds and reports every event to its
/// webhook; returns its id and final view.
async fn submit_and_wait(
    app: &TestApp,
    s: &Session,
    source: &SourceServer,
    receiver: &Receiver,
) -> (String, Value) {
    // Every event type, to follow the whole job from outside.
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &s.access_token,
            json!({"url": receiver.url(), "events": cutroom_core::webhooks::EVENT_TYPES}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");

    // Threats are blocked for this job; other categories keep the default.
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({
                "source": {"type": "youtube", "url": source.url("threat.mp4")},
                "options": {
                    "moderation": {"rules": {"violence": {"threshold": 0.5, "action": "block"}}},
                    "analysis": {"highlights": {"min_seconds": 5, "max_seconds": 15}},
                    "clips": {"tighten": {"enabled": true}, "reframe": "speaker"}
                }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    check_webhooks(receiver, hook["secret"].as_str().unwrap(), &id).await;
    (id, job)
}

/// The queue holds the job's one open, blocking violence flag; returns its
/// id and time span.
async fn check_open_flag(app: &TestApp, s: &Session, id: &str) -> (String, (f64, f64)) {
    // The queue holds the job's open flag.
    let (status, page) = app.get("/v1/review", &s.access_token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let flag = &items[0];
    assert_eq!(flag["job_id"], id);
    assert_eq!(flag["status"], "open");
    assert_eq!(flag["action"], "block", "{flag}");
    assert!(
        flag["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("kill"),
        "{flag}"
    );
    let categories: Vec<&str> = flag["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(categories.contains(&"violence"), "{flag}");
    let flag_id = flag["id"].as_str().unwrap().to_owned();
    assert_eq!(flag["kind"], "segment", "{flag}");

    // Highlights over the threat are held by its flag; the others are ready.
    let (flag_start, flag_end) = (
        flag["start"].as_f64().unwrap(),
        flag["end"].as_f64().unwrap(),
    );
    (flag_id, (flag_start, flag_end))
}

/// Highlights over the threat are held by its flag; the others are ready.
async fn check_held_highlights(
    app: &TestApp,
    s: &Session,
    id: &str,
    flag_id: &str,
    span: (f64, f64),
) {
    let (status, highlights) = app
        .get(&format!("/v1/jobs/{id}/highlights"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{highlights}");
    let items = highlights["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{highlights}");
    let overlapping = |h: &Value| overlaps(span, h);
    assert!(items.iter().any(overlapping), "{highlights}");
    for h in items {
        if overlapping(h) {
            assert_eq!(h["status"], "held", "{h}");
            assert_eq!(h["held_by"], json!([flag_id]), "{h}");
        } else {
            assert_eq!(h["status"], "ready", "{h}");
        }
    }
}

/// Clips are rendered, the held ones without URLs, and the job's outputs
/// (manifest, edit decision lists, OTIO) agree with them.
async fn check_clips_and_outputs(
    app: &TestApp,
    s: &Session,
    id: &str,
    flag_id: &str,
    span: (f64, f64),
) {
    let overlapping = |h: &Value| overlaps(span, h);
    // Clips: rendered for the best highlights; those over the threat are
    // held, without download URLs.
    let (status, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{clips}");
    let clip_items = clips["items"].as_array().unwrap();
    assert!(!clip_items.is_empty(), "{clips}");
    assert!(clip_items.len() <= 3, "three by default: {clips}");
    assert!(clip_items.iter().any(overlapping), "{clips}");
    for c in clip_items {
        let files = c["files"].as_array().unwrap();
        let kinds: Vec<&str> = files.iter().map(|f| f["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["video", "srt", "vtt", "thumbnail", "preview"],
            "{c}"
        );
        assert_eq!(files[0]["format"], "vertical", "{c}");
        if overlapping(c) {
            assert_eq!(c["status"], "held", "{c}");
            assert_eq!(c["held_by"], json!([flag_id]), "{c}");
            assert!(files.iter().all(|f| f.get("url").is_none()), "{c}");
        }
    }
    // The job's own outputs list the manifest, not the clips' files.
    let (_, job_view) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    let names: Vec<&str> = job_view["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"clips.json"), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with("clips/")), "{names:?}");
    let manifest: Value =
        serde_json::from_slice(&fetch_output(app, &job_view, "clips.json").await).unwrap();
    assert_eq!(
        manifest["clips"].as_array().unwrap().len(),
        clip_items.len(),
        "{manifest}"
    );
    // As rendered, before any decision: the same states as the API's.
    for (m, c) in manifest["clips"].as_array().unwrap().iter().zip(clip_items) {
        assert_eq!(m["moderation"], c["status"], "{m} {c}");
    }
    // The edit decision lists: one event per clip, and the tightened cut.
    let edl = String::from_utf8(fetch_output(app, &job_view, "highlights.edl").await).unwrap();
    assert!(
        edl.starts_with("TITLE: Cutroom highlights\nFCM: NON-DROP FRAME\n"),
        "{edl}"
    );
    assert_eq!(
        edl.matches("* FROM CLIP NAME:").count(),
        clip_items.len(),
        "{edl}"
    );
    let tight = String::from_utf8(fetch_output(app, &job_view, "tightened.edl").await).unwrap();
    assert!(tight.contains("001  AX       AA/V  C"), "{tight}");
    assert!(
        manifest["edits"]["seconds_saved"].as_f64().unwrap() > 1.0,
        "{manifest}"
    );
    let otio: Value =
        serde_json::from_slice(&fetch_output(app, &job_view, "edit.otio").await).unwrap();
    assert_eq!(otio["OTIO_SCHEMA"], "SerializableCollection.1");
}

/// The review queue's filters narrow it, and bad filters are refused.
async fn check_filters(app: &TestApp, s: &Session, id: &str) {
    // Filters.
    for (query, expected) in [
        ("?category=violence", 1),
        ("?category=hate", 0),
        ("?severity=block", 1),
        ("?severity=flag", 0),
        (&format!("?job_id={id}") as &str, 1),
        ("?status=approved", 0),
    ] {
        let (status, page) = app
            .get(&format!("/v1/review{query}"), &s.access_token)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            expected,
            "{query}: {page}"
        );
    }
    for (bad, expected) in [
        ("?status=pending", StatusCode::BAD_REQUEST),
        ("?category=spam", StatusCode::BAD_REQUEST),
        ("?severity=ignore", StatusCode::UNPROCESSABLE_ENTITY),
        ("?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, body) = app.get(&format!("/v1/review{bad}"), &s.access_token).await;
        assert_eq!(status, expected, "{bad}: {body}");
    }
}

/// The same flag in moderation.json.
async fn check_moderation_report(app: &TestApp, job: &Value) {
    let moderation: Value =
        serde_json::from_slice(&fetch_output(app, job, "moderation.json").await).unwrap();
    assert_eq!(moderation["summary"]["action"], "block", "{moderation}");
    assert_eq!(
        moderation["flags"].as_array().unwrap().len(),
        1,
        "{moderation}"
    );
}

/// Another tenant sees nothing and cannot decide; returns its session.
async fn other_tenant_cannot_decide(app: &TestApp, flag_id: &str) -> Session {
    let other = app.signup(&email("other-mod"), "Other").await;
    let (_, none) = app.get("/v1/review?status=all", &other.access_token).await;
    assert_eq!(none["items"], json!([]), "{none}");
    let (status, _) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            &other.access_token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    other
}

/// Decisions stay in the trail; rejection keeps the highlights held and
/// approval releases them; the other tenant cannot see the job's results.
async fn decide_flag(app: &TestApp, s: &Session, other: &Session, id: &str, flag_id: &str) {
    // Decisions: approve, then reject; both stay in the trail.
    let (status, body) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            &s.access_token,
            json!({"decision": "maybe"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, approved) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            &s.access_token,
            json!({"decision": "approve", "note": "a line from a film"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decisions"][0]["note"], "a line from a film");
    assert_eq!(
        approved["decisions"][0]["reviewer_user_id"],
        s.user_id.as_str()
    );
    let (_, rejected) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            &s.access_token,
            json!({"decision": "reject"}),
        )
        .await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let decisions: Vec<&str> = rejected["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["approve", "reject"]);
    let (_, open) = app.get("/v1/review", &s.access_token).await;
    assert_eq!(
        open["items"],
        json!([]),
        "decided flags leave the open queue"
    );
    // Rejected: still held. Approved again: released.
    let (_, highlights) = app
        .get(&format!("/v1/jobs/{id}/highlights"), &s.access_token)
        .await;
    assert!(
        highlights["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["status"] == "held"),
        "{highlights}"
    );
    let (status, _) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            &s.access_token,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, highlights) = app
        .get(&format!("/v1/jobs/{id}/highlights"), &s.access_token)
        .await;
    assert!(
        highlights["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["status"] == "ready"),
        "{highlights}"
    );
    let (status, _) = app
        .get(&format!("/v1/jobs/{id}/highlights"), &other.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/v1/jobs/{id}/clips"), &other.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Approved: every clip is released, framed and tightened as it says.
async fn check_released_clips(app: &TestApp, s: &Session, id: &str) {
    let words = crate::clips::word_times(app, &s.access_token, id).await;
    let (_, clips) = app
        .get(&format!("/v1/jobs/{id}/clips"), &s.access_token)
        .await;
    for c in clips["items"].as_array().unwrap() {
        // 320x240 sources: 240 wide, 16:9 tall.
        crate::clips::check_ready_clip(app, c, &words, (240, 426)).await;
    }
    // Speaker framing looked for faces; the test pattern has none, so each
    // clip says it was cropped at the centre.
    for c in clips["items"].as_array().unwrap() {
        let framing = &c["details"]["framing"];
        assert!(framing["frames_sampled"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(framing["frames_with_faces"], 0, "{c}");
        assert!(framing["note"].as_str().unwrap().contains("no face"), "{c}");
    }
    // Highlights of 5 s or more span a 1.5 s pause between sentences, and
    // tightening takes it out.
    assert!(
        clips["items"].as_array().unwrap().iter().any(|c| {
            c["details"]["tightened"]["seconds_saved"]
                .as_f64()
                .is_some_and(|s| s > 0.5)
        }),
        "{clips}"
    );
}

/// Today's statistics count the flag and its decisions.
async fn check_stats(app: &TestApp, s: &Session) {
    let (status, stats) = app
        .get("/v1/stats/moderation?days=7", &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{stats}");
    let today = &days[0];
    assert_eq!(today["flags"], 1, "{stats}");
    assert_eq!(today["blocks"], 1, "{stats}");
    assert_eq!(today["by_category"]["violence"], 1, "{stats}");
    assert_eq!(
        (today["approved"].clone(), today["rejected"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(today["still_open"], 0, "{stats}");
    let (status, _) = app
        .get("/v1/stats/moderation?days=0", &s.access_token)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The job told its webhook everything, in messages that verify: created,
/// each stage completed, flagged, clips ready, succeeded.
async fn check_webhooks(receiver: &Receiver, secret: &str, job_id: &str) {
    // created + 11 stages + flagged + clips + succeeded.
    let got = receiver.wait_for(15).await;
    let mut types: Vec<String> = Vec::new();
    for r in &got {
        crate::webhooks::verify(secret, r);
        let body = r.json();
        assert_eq!(body["data"]["job_id"], job_id, "{body}");
        let t = body["type"].as_str().unwrap();
        types.push(match t {
            "job.stage_completed" => format!("{t}:{}", body["data"]["stage"].as_str().unwrap()),
            "moderation.flagged" => {
                assert_eq!(body["data"]["details"]["flagged_segments"], 1, "{body}");
                assert_eq!(body["data"]["details"]["action"], "block", "{body}");
                t.to_owned()
            }
            "clips.ready" => {
                assert!(
                    body["data"]["details"]["count"].as_u64().unwrap() >= 1,
                    "{body}"
                );
                t.to_owned()
            }
            _ => t.to_owned(),
        });
    }
    types.sort();
    let mut expected: Vec<String> = [
        "fetch",
        "probe",
        "audio",
        "loudness",
        "silence",
        "transcribe",
        "speakers",
        "analyze",
        "moderate",
        "clips",
        "publish",
    ]
    .iter()
    .map(|s| format!("job.stage_completed:{s}"))
    .chain(
        [
            "job.created",
            "moderation.flagged",
            "clips.ready",
            "job.succeeded",
        ]
        .map(String::from),
    )
    .collect();
    expected.sort();
    assert_eq!(types, expected);
}

both_dbs!(
    flagged_speech_is_reviewed_,
    super::flagged_speech_is_reviewed
);

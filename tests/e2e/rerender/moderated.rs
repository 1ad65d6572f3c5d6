//! Corrected captions and moderation: a re-render reads the segments people
//! corrected before it captions clips with them, and holds the clips that
//! show a flagged correction until a reviewer approves that very text.

use super::*;

/// Replaces the sentence that starts at `Thank` in `segment` with `words`
/// (nine of them, so each keeps the time of the word it replaces).
async fn correct(app: &TestApp, token: &str, job: &str, segment: &Value, words: &str) {
    let said: Vec<String> = segment["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap().trim().to_owned())
        .collect();
    let first = said
        .iter()
        .position(|w| w == "Thank")
        .unwrap_or_else(|| panic!("no `Thank` in {segment}"));
    assert_eq!(said.len() - first, words.split(' ').count(), "{segment}");
    let text: Vec<&str> = said[..first]
        .iter()
        .map(String::as_str)
        .chain(words.split(' '))
        .collect();
    let (status, body) = app
        .patch(
            &format!("/v1/jobs/{job}/transcript/segments/{}", segment["id"]),
            token,
            json!({"text": text.join(" ")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Re-renders `start..end` of `job` with burned captions; the finished
/// re-render and its one clip.
async fn rerender_one(
    app: &TestApp,
    token: &str,
    job: &str,
    (start, end): (f64, f64),
) -> (Value, Value) {
    let (status, render) = app
        .post(
            &format!("/v1/jobs/{job}/clips"),
            token,
            json!({"ranges": [{"start": start, "end": end}], "clips": {"formats": ["original"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{render}");
    let id = render["id"].as_str().unwrap().to_owned();
    let render = app.wait_for_job(token, &id, JOB_LIMIT).await;
    assert_eq!(render["status"], "succeeded", "{render}");
    let (_, clips) = app.get(&format!("/v1/jobs/{id}/clips"), token).await;
    let items = clips["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{clips}");
    (render, items[0].clone())
}

/// The burned-in captions of a ready clip, as its SRT file says them.
async fn captions(app: &TestApp, clip: &Value) -> String {
    assert_eq!(clip["status"], "ready", "{clip}");
    let srt = clip["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "srt")
        .unwrap_or_else(|| panic!("no srt: {clip}"));
    String::from_utf8(download(app, srt).await).unwrap()
}

/// A member cannot put words into a clip's captions that moderation never
/// read: a re-render checks the corrected segments before it cuts, and a
/// clip showing a flagged correction is held until a reviewer approves
/// that text, not an earlier one. What was said (and flagged or not) when
/// the job ran still stands whatever the captions say.
async fn corrected_captions_are_moderated_before_a_rerender(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "Welcome to the show about gardens. <break time=\"1500ms\"/> \
         Thank you all for coming to the meeting today. <break time=\"1500ms\"/> \
         The weather looks lovely this afternoon in the park.",
    );
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("edit-mod"), "Edits").await;
    let token = s.access_token.as_str();
    let (id, own_before) = submit_and_wait(&app, token, &source).await;
    let (segment, range) = find_sentence(&app, token, &id).await;
    let (render, flag_id) = check_threat_held(&app, token, &id, &segment, range, &own_before).await;
    check_approval_releases(&app, token, &render, &flag_id).await;
    let (second, second_flag) =
        check_reedit_flagged_again(&app, token, &id, &segment, range, &flag_id).await;
    check_harmless_correction(&app, token, &id, &segment, range, &second, &render).await;
    check_flag_dropped(&app, token, &id, range, &second, &flag_id, &second_flag).await;
}

/// The job's review queue, decided flags included.
fn review_queue(id: &str) -> String {
    format!("/v1/review?status=all&job_id={id}")
}

/// Threats are blocked under this job's policy, yet nothing said is
/// flagged; returns the job id and its own clips as first cut.
async fn submit_and_wait(
    app: &TestApp,
    token: &str,
    source: &SourceServer,
) -> (String, Vec<Value>) {
    // Threats are blocked under this job's policy.
    let (status, job) = app
        .post(
            "/v1/jobs",
            token,
            json!({
                "source": {"type": "youtube", "url": source.url("talk.mp4")},
                "keep_source_hours": 1,
                "options": {
                    "moderation": {"rules": {"violence": {"threshold": 0.5, "action": "block"}}},
                    "analysis": {"highlights": {"min_seconds": 5, "max_seconds": 15}},
                    "clips": {"count": 1, "formats": ["original"]}
                }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let queue = review_queue(&id);
    let (_, flags) = app.get(&queue, token).await;
    assert_eq!(
        flags["items"],
        json!([]),
        "nothing said was flagged: {flags}"
    );
    let (_, own) = app.get(&format!("/v1/jobs/{id}/clips"), token).await;
    let own_before: Vec<Value> = own["items"].as_array().unwrap().clone();
    assert!(!own_before.is_empty(), "{own}");
    (id, own_before)
}

/// The segment about the meeting; returns it and the range of its sentence
/// starting at `Thank`, with room either side.
async fn find_sentence(app: &TestApp, token: &str, id: &str) -> (Value, (f64, f64)) {
    let (_, transcript) = app.get(&format!("/v1/jobs/{id}/transcript"), token).await;
    let segment = transcript["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|seg| seg["text"].as_str().unwrap().contains("meeting"))
        .unwrap_or_else(|| panic!("no segment about the meeting: {transcript}"))
        .clone();
    let said = segment["words"].as_array().unwrap();
    let first = said
        .iter()
        .position(|w| w["text"].as_str().unwrap().trim() == "Thank")
        .unwrap_or_else(|| panic!("no `Thank` in {segment}"));
    let range = (
        said[first]["start"].as_f64().unwrap() - 0.3,
        said.last().unwrap()["end"].as_f64().unwrap() + 0.3,
    );
    (segment, range)
}

/// A member edits the line into a threat and renders it: the clip is held
/// by an edit flag, the re-render reports it, and the job's own clips are
/// unchanged. Returns the re-render and the flag's id.
async fn check_threat_held(
    app: &TestApp,
    token: &str,
    id: &str,
    segment: &Value,
    range: (f64, f64),
    own_before: &[Value],
) -> (Value, String) {
    let queue = review_queue(id);
    correct(
        app,
        token,
        id,
        segment,
        "I will find you and I will kill you.",
    )
    .await;
    let (render, clip) = rerender_one(app, token, id, range).await;
    assert_eq!(
        clip["status"], "held",
        "a clip captioned with an unreviewed threat: {clip}"
    );
    let (_, flags) = app.get(&queue, token).await;
    let items = flags["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{flags}");
    let flag = &items[0];
    assert_eq!(flag["job_id"], id, "flags belong to the job: {flag}");
    assert_eq!(flag["kind"], "edit", "{flag}");
    assert_eq!(flag["segment"], segment["id"], "{flag}");
    assert_eq!(flag["status"], "open", "{flag}");
    assert_eq!(flag["action"], "block", "the job's policy: {flag}");
    assert!(
        flag["text"].as_str().unwrap().contains("kill you"),
        "{flag}"
    );
    let flag_id = flag["id"].as_str().unwrap().to_owned();
    assert_eq!(clip["held_by"], json!([flag_id.as_str()]), "{clip}");
    assert!(
        clip["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["url"].is_null()),
        "{clip}"
    );
    // The re-render says what it checked.
    let report = crate::pipeline::fetch_output(app, &render, "moderation.json").await;
    let report: Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(
        report["edited_segments"],
        json!([segment["id"]]),
        "{report}"
    );
    assert_eq!(report["flags"][0]["kind"], "edit", "{report}");
    assert_eq!(report["flags"][0]["segment"], segment["id"], "{report}");
    // The job's own clips were cut before the edit and never show it.
    let (_, own) = app.get(&format!("/v1/jobs/{id}/clips"), token).await;
    let statuses = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        statuses(own["items"].as_array().unwrap()),
        statuses(own_before),
        "{own}"
    );
    (render, flag_id)
}

/// A reviewer approves that text: the clip is released.
async fn check_approval_releases(app: &TestApp, token: &str, render: &Value, flag_id: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/review/{flag_id}"),
            token,
            json!({"decision": "approve", "note": "a line from a play"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, clips) = app
        .get(
            &format!("/v1/jobs/{}/clips", render["id"].as_str().unwrap()),
            token,
        )
        .await;
    let approved_clip = clips["items"][0].clone();
    assert!(
        captions(app, &approved_clip).await.contains("kill"),
        "{approved_clip}"
    );
}

/// Approved, then edited again: the approval was of the old words, so the
/// new clip is held by a new flag. Returns that re-render and its flag's id.
async fn check_reedit_flagged_again(
    app: &TestApp,
    token: &str,
    id: &str,
    segment: &Value,
    range: (f64, f64),
    flag_id: &str,
) -> (Value, Value) {
    correct(
        app,
        token,
        id,
        segment,
        "I will find you, and I will kill you.",
    )
    .await;
    let (second, clip) = rerender_one(app, token, id, range).await;
    assert_eq!(clip["status"], "held", "{clip}");
    let (_, open) = app.get(&format!("/v1/review?job_id={id}"), token).await;
    let open = open["items"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_ne!(open[0]["id"], flag_id);
    assert_eq!(open[0]["kind"], "edit");
    assert!(
        open[0]["text"].as_str().unwrap().contains("you, and"),
        "{open:?}"
    );
    assert_eq!(clip["held_by"], json!([open[0]["id"].clone()]), "{clip}");
    (second, open[0]["id"].clone())
}

/// Corrected into something harmless: the new clip is ready, and the clips
/// that show the threats stay as reviewers left them.
async fn check_harmless_correction(
    app: &TestApp,
    token: &str,
    id: &str,
    segment: &Value,
    range: (f64, f64),
    second: &Value,
    render: &Value,
) {
    correct(
        app,
        token,
        id,
        segment,
        "Thanks everyone for joining the meeting this fine morning.",
    )
    .await;
    let (_, clip) = rerender_one(app, token, id, range).await;
    let srt = captions(app, &clip).await;
    assert!(srt.contains("morning") && !srt.contains("kill"), "{srt}");
    let clips_of = |job: &Value| format!("/v1/jobs/{}/clips", job["id"].as_str().unwrap());
    let (_, clips) = app.get(&clips_of(second), token).await;
    assert_eq!(clips["items"][0]["status"], "held", "{clips}");
    let (_, clips) = app.get(&clips_of(render), token).await;
    assert_eq!(clips["items"][0]["status"], "ready", "{clips}");
}

/// Once no clip shows a corrected-away text, the next re-render drops its
/// flag; the approved one still describes the first clip.
async fn check_flag_dropped(
    app: &TestApp,
    token: &str,
    id: &str,
    range: (f64, f64),
    second: &Value,
    flag_id: &str,
    second_flag: &Value,
) {
    let queue = review_queue(id);
    let (status, _) = app
        .delete(
            &format!("/v1/jobs/{}", second["id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, clip) = rerender_one(app, token, id, range).await;
    assert_eq!(clip["status"], "ready", "{clip}");
    let (_, all) = app.get(&queue, token).await;
    let ids: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert_eq!(ids, [&json!(flag_id)], "{all}");
    assert_ne!(ids[0], second_flag);
}
both_dbs!(
    corrected_captions_are_moderated_before_a_rerender_,
    super::corrected_captions_are_moderated_before_a_rerender
);

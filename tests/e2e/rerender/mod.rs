//! Re-rendering a finished job's clips from its kept source: chosen ranges
//! in other shapes, captioned from the transcript as corrected since, and
//! every way it is refused: a source never kept, a job not finished, a
//! source swept or gone, ranges outside the video, another tenant.

use std::time::Duration;

use chrono::Utc;
use cutroom_tests::{Db, Session, SourceServer, TestApp, both_dbs, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::clips::{check_ready_clip, download};

mod moderated;

const JOB_LIMIT: Duration = Duration::from_secs(120);

/// A kept source lets a finished job's clips be re-rendered after a
/// transcript correction, and every way a re-render is refused is checked.
async fn clips_are_rerendered_from_the_kept_source(db: Db) {
    let source = SourceServer::start().await;
    media::spoken(
        &source.path("talk.mp4"),
        "Welcome to the show about gardens. <break time=\"1500ms\"/> \
         Thank you all for coming to the meeting today. <break time=\"1500ms\"/> \
         The weather looks lovely this afternoon in the park.",
    );
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("rerender"), "Rerender").await;
    let other = app.signup(&email("rerender-other"), "Other").await;
    let (id, kept_prefix) = submit_keeping_source(&app, &s, &source).await;
    let rerender = format!("/v1/jobs/{id}/clips");
    let (first_word, last_word) = correct_transcript(&app, &s, &id).await;
    let (start, end) = (first_word - 0.3, last_word + 0.3);
    check_refusals(&app, &s, &other, &rerender).await;
    let render_id = submit_rerender(&app, &s, &id, &rerender, (start, end)).await;
    let words = check_rerendered_clip(
        &app,
        &s,
        &id,
        &render_id,
        &rerender,
        &kept_prefix,
        (first_word, last_word),
    )
    .await;
    check_plain_rerender(&app, &s, &rerender, (start, end), &words).await;
    check_source_gone(&app, &s, &id, &render_id, &rerender, &kept_prefix).await;
    check_delete(&app, &s, &id, &render_id).await;
}

/// One range from the source's start, as most refusals use.
fn one_range() -> Value {
    json!({"ranges": [{"start": 0.0, "end": 5.0}]})
}

/// Keeping the source is bounded, refused before the job finishes, and then
/// keeps one copy for the hours asked; returns the job id and its kept prefix.
async fn submit_keeping_source(
    app: &TestApp,
    s: &Session,
    source: &SourceServer,
) -> (String, String) {
    let submit = |keep: u32| {
        json!({
            "source": {"type": "youtube", "url": source.url("talk.mp4")},
            "keep_source_hours": keep,
            "options": {
                "analysis": {"highlights": {"min_seconds": 5, "max_seconds": 15}},
                "clips": {"count": 1, "formats": ["original"], "tighten": {"enabled": true}}
            }
        })
    };
    let (status, err) = app.post("/v1/jobs", &s.access_token, submit(169)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("keep_source_hours"),
        "{err}"
    );

    let (status, job) = app.post("/v1/jobs", &s.access_token, submit(2)).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["keep_source_hours"], 2);
    let id = job["id"].as_str().unwrap().to_owned();
    let rerender = format!("/v1/jobs/{id}/clips");
    // Not before the job has finished (it takes seconds; this is at once).
    let (status, err) = app.post(&rerender, &s.access_token, one_range()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "job_not_finished", "{err}");
    let job = app.wait_for_job(&s.access_token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let until: chrono::DateTime<Utc> = job["source_kept_until"]
        .as_str()
        .unwrap_or_else(|| panic!("no source_kept_until: {job}"))
        .parse()
        .unwrap();
    let hours = (until - Utc::now()).num_minutes() as f64 / 60.0;
    assert!((1.9..=2.0).contains(&hours), "kept for {hours} h: {job}");
    let kept_prefix = format!("kept/{}/{id}/", s.tenant_id);
    assert_eq!(app.stored_keys(&kept_prefix).await.len(), 1);
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
    (id, kept_prefix)
}

/// A person corrects the second sentence; returns the times of its first
/// and last words.
async fn correct_transcript(app: &TestApp, s: &Session, id: &str) -> (f64, f64) {
    let (_, transcript) = app
        .get(&format!("/v1/jobs/{id}/transcript"), &s.access_token)
        .await;
    let segment = transcript["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|seg| {
            seg["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("meeting")
        })
        .unwrap_or_else(|| panic!("no segment about the meeting: {transcript}"))
        .clone();
    // Its sentence about the meeting, word for word, so the words keep
    // their times (whisper may have put another sentence in the segment).
    let said: Vec<&Value> = segment["words"].as_array().unwrap().iter().collect();
    let first = said
        .iter()
        .position(|w| w["text"].as_str().unwrap().trim() == "Thank")
        .unwrap_or_else(|| panic!("no `Thank` in {segment}"));
    let mut text: Vec<String> = said
        .iter()
        .map(|w| w["text"].as_str().unwrap().trim().to_owned())
        .collect();
    assert_eq!(
        text[first..].join(" "),
        "Thank you all for coming to the meeting today.",
        "{segment}"
    );
    text.splice(
        first..,
        "Thanks everyone for joining the meeting this fine morning."
            .split(' ')
            .map(str::to_owned),
    );
    let (status, body) = app
        .patch(
            &format!("/v1/jobs/{id}/transcript/segments/{}", segment["id"]),
            &s.access_token,
            json!({"text": text.join(" ")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The sentence's words, and room either side that stays in the pauses.
    let (first_word, last_word) = (
        said[first]["start"].as_f64().unwrap(),
        said.last().unwrap()["end"].as_f64().unwrap(),
    );
    (first_word, last_word)
}

/// Refusals that need no worker: bad ranges and options, another tenant.
async fn check_refusals(app: &TestApp, s: &Session, other: &Session, rerender: &str) {
    let bad = [
        (
            json!({"ranges": [{"start": 0.0, "end": 500.0}]}),
            "after the source's end",
        ),
        (json!({"ranges": []}), "between 1 and 20"),
        (
            json!({"ranges": [{"start": 1.0, "end": 4.0}], "clips": {"count": 2}}),
            "clips.count",
        ),
        (
            json!({"ranges": [{"start": 1.0, "end": 4.0}], "clips": {"formats": []}}),
            "clips.formats",
        ),
        (
            json!({"ranges": [{"start": 1.0, "end": 4.0}], "clips": {"shape": "round"}}),
            "shape",
        ),
    ];
    for (body, expect) in bad {
        let (status, err) = app.post(rerender, &s.access_token, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(
            err["detail"].as_str().unwrap().contains(expect),
            "{expect}: {err}"
        );
    }
    let (status, _) = app.post(rerender, &other.access_token, one_range()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's job");
}

/// The re-render of the corrected sentence, in two other shapes with the
/// job's tightening kept, succeeds without transcribing again; returns its id.
async fn submit_rerender(
    app: &TestApp,
    s: &Session,
    id: &str,
    rerender: &str,
    (start, end): (f64, f64),
) -> String {
    let (status, render) = app
        .post(
            rerender,
            &s.access_token,
            json!({
                "ranges": [{"start": start, "end": end, "title": "The meeting"}],
                "clips": {"formats": ["vertical", "square"]}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{render}");
    assert_eq!(render["parent_id"], id, "{render}");
    assert_eq!(render["ranges"][0]["title"], "The meeting", "{render}");
    let clip_options = &render["options"]["clips"];
    assert_eq!(clip_options["formats"], json!(["vertical", "square"]));
    assert_eq!(clip_options["tighten"]["enabled"], true, "{render}");
    assert_eq!(clip_options["count"], 1, "{render}");
    let render_id = render["id"].as_str().unwrap().to_owned();
    let render = app
        .wait_for_job(&s.access_token, &render_id, JOB_LIMIT)
        .await;
    assert_eq!(render["status"], "succeeded", "{render}");
    let names: Vec<&str> = render["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"clips.json"), "{names:?}");
    assert!(
        !names.contains(&"transcript.json"),
        "nothing is transcribed again: {names:?}"
    );
    render_id
}

/// The re-rendered clip is cut on the sentence, in both shapes, captioned
/// with the correction; the source stays kept and the job's own clip is
/// untouched. Returns the job's word times.
async fn check_rerendered_clip(
    app: &TestApp,
    s: &Session,
    id: &str,
    render_id: &str,
    rerender: &str,
    kept_prefix: &str,
    (first_word, last_word): (f64, f64),
) -> Vec<(f64, f64)> {
    let words = crate::clips::word_times(app, &s.access_token, id).await;
    let (status, clips) = app
        .get(&format!("/v1/jobs/{render_id}/clips"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{clips}");
    let items = clips["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{clips}");
    let clip = &items[0];
    assert_eq!(clip["title"], "The meeting");
    assert_eq!(clip["highlight_rank"], Value::Null);
    assert_eq!(clip["details"]["range"], 0);
    // Cut on the sentence's first and last words, with room that may
    // reach a little past the range.
    let (cut_start, cut_end) = (
        clip["start"].as_f64().unwrap(),
        clip["end"].as_f64().unwrap(),
    );
    assert!(
        (first_word - 0.6..=first_word).contains(&cut_start),
        "{clip}"
    );
    assert!((last_word..=last_word + 0.6).contains(&cut_end), "{clip}");
    // 320x240 source: vertical first, 240 wide.
    check_ready_clip(app, clip, &words, (240, 426)).await;
    let formats: Vec<&str> = clip["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "video")
        .map(|f| f["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["vertical", "square"]);
    let srt_file = clip["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "srt")
        .unwrap();
    let srt = String::from_utf8(download(app, srt_file).await).unwrap();
    assert!(
        srt.contains("morning"),
        "captions keep the correction: {srt}"
    );
    assert!(
        !srt.contains("today"),
        "captions keep the correction: {srt}"
    );
    // The source is still kept for the next re-render, and the job's own
    // clip is untouched.
    assert_eq!(app.stored_keys(kept_prefix).await.len(), 1);
    let (_, own) = app.get(rerender, &s.access_token).await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1, "{own}");
    let (_, page) = app
        .get(&format!("/v1/jobs?parent_id={id}"), &s.access_token)
        .await;
    let listed: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [render_id]);
    words
}

/// In the source's own shape without captions or tightening, the clip may
/// be smart-rendered; it is a clip like any other.
async fn check_plain_rerender(
    app: &TestApp,
    s: &Session,
    rerender: &str,
    (start, end): (f64, f64),
    words: &[(f64, f64)],
) {
    let (status, plain) = app
        .post(
            rerender,
            &s.access_token,
            json!({
                "ranges": [{"start": start, "end": end}],
                "clips": {"formats": ["original"], "captions": {"burn": false}, "tighten": {"enabled": false}}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let plain_id = plain["id"].as_str().unwrap().to_owned();
    let plain = app
        .wait_for_job(&s.access_token, &plain_id, JOB_LIMIT)
        .await;
    assert_eq!(plain["status"], "succeeded", "{plain}");
    let (_, clips) = app
        .get(&format!("/v1/jobs/{plain_id}/clips"), &s.access_token)
        .await;
    let items = clips["items"].as_array().unwrap();
    let manifest = crate::pipeline::fetch_output(app, &plain, "clips.json").await;
    assert_eq!(items.len(), 1, "{}", String::from_utf8_lossy(&manifest));
    check_ready_clip(app, &items[0], words, (320, 240)).await;
}

/// A re-render is not re-rendered; a vanished kept copy fails the render
/// with a code; a swept source makes re-renders expired.
async fn check_source_gone(
    app: &TestApp,
    s: &Session,
    id: &str,
    render_id: &str,
    rerender: &str,
    kept_prefix: &str,
) {
    // A re-render is not re-rendered; its parent is.
    let (status, err) = app
        .post(
            &format!("/v1/jobs/{render_id}/clips"),
            &s.access_token,
            one_range(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "source_not_kept");

    // The kept copy vanished (a lifecycle rule, an operator): the render
    // ends with a code, and the scratch folder goes.
    let key = app.stored_keys(kept_prefix).await.remove(0);
    app.app.store.delete(&key).await.unwrap();
    let (status, gone) = app.post(rerender, &s.access_token, one_range()).await;
    assert_eq!(status, StatusCode::CREATED, "{gone}");
    let gone = app
        .wait_for_job(&s.access_token, gone["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(gone["status"], "failed", "{gone}");
    assert_eq!(gone["error"]["code"], "source_expired", "{gone}");
    assert!(app.scratch_entries().is_empty());

    // When its hours are up, the sweeper forgets it, and re-renders are
    // refused as expired.
    let swept = cutroom_core::housekeeping::sweep::kept_sources(
        &app.housekeeper,
        Utc::now() + chrono::Duration::hours(3),
    )
    .await
    .unwrap();
    assert_eq!(swept, 1);
    let (_, job) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert!(job.get("source_kept_until").is_none(), "{job}");
    let (status, err) = app.post(rerender, &s.access_token, one_range()).await;
    assert_eq!(status, StatusCode::GONE, "{err}");
    assert_eq!(err["code"], "source_expired");
}

/// Deleting the job deletes its re-renders and all their files.
async fn check_delete(app: &TestApp, s: &Session, id: &str, render_id: &str) {
    let (status, _) = app.delete(&format!("/v1/jobs/{id}"), &s.access_token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/v1/jobs/{render_id}"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let left = app.stored_keys(&format!("tenants/{}/", s.tenant_id)).await;
    assert!(left.is_empty(), "{left:?}");
    assert!(
        app.stored_keys(&format!("kept/{}/", s.tenant_id))
            .await
            .is_empty()
    );
}
both_dbs!(
    clips_are_rerendered_from_the_kept_source_,
    super::clips_are_rerendered_from_the_kept_source
);

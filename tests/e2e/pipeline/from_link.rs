//! A job from a link (yt-dlp from a loopback server): every output, the
//! transcript through the API, search and corrections; and the links
//! that are refused.

use cutroom_tests::{Db, Session, SourceServer, TestApp, both_dbs, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{GAPS, JOB_LIMIT, assert_silences_match, assert_transcript_matches, fetch_output};

/// A link fetched by yt-dlp runs the whole pipeline: every output, the
/// transcript through the API, search and corrections.
async fn youtube_style_job(db: Db) {
    let source = SourceServer::start().await;
    media::talk_with_gaps(&source.path("talk.mp4"), 10.0, &GAPS);
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("yt"), "Tube").await;
    let job = submit_and_wait(&app, &s, &source).await;
    let transcript = check_outputs(&app, &job).await;
    check_models(&job);
    check_analysis_and_moderation(&app, &job, &transcript).await;
    let id = job["id"].as_str().unwrap();
    let other = check_transcript_api(&app, &s, id, &transcript).await;
    check_correction(&app, &s, &other, id, &transcript).await;
    check_cleanup_and_events(&app, &s, &job).await;
}

/// The job succeeds on the one direct-link file, and its source, not kept,
/// cannot be re-rendered; returns the finished job.
async fn submit_and_wait(app: &TestApp, s: &Session, source: &SourceServer) -> Value {
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("talk.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    assert!(
        (job["media"]["duration"].as_f64().unwrap() - 10.0).abs() < 0.1,
        "{job}"
    );
    // A direct link is one file with both streams, fetched as it is.
    let download = &job["media"]["download"];
    assert_eq!(download["max_height"], 1080, "{job}");
    assert_eq!(download["formats"].as_array().unwrap().len(), 1, "{job}");
    assert!(
        !download["format_id"].as_str().unwrap().contains('+'),
        "{job}"
    );
    // Its source was not kept, so its clips cannot be re-rendered.
    assert_eq!(job["keep_source_hours"], 0);
    assert!(job.get("source_kept_until").is_none(), "{job}");
    let (status, err) = app
        .post(
            &format!("/v1/jobs/{}/clips", job["id"].as_str().unwrap()),
            &s.access_token,
            json!({"ranges": [{"start": 1.0, "end": 5.0}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "source_not_kept", "{err}");
    job
}

/// Silences, transcript, captions and speakers match the talk's one voice;
/// returns the transcript.
async fn check_outputs(app: &TestApp, job: &Value) -> Value {
    let silences: Value =
        serde_json::from_slice(&fetch_output(app, job, "silences.json").await).unwrap();
    assert_silences_match(&silences, 10.0);
    let transcript: Value =
        serde_json::from_slice(&fetch_output(app, job, "transcript.json").await).unwrap();
    assert_transcript_matches(&transcript, &silences);
    let srt = String::from_utf8(fetch_output(app, job, "transcript.srt").await).unwrap();
    assert!(srt.starts_with("1\n00:00:0"), "{srt}");
    // One voice: one speaker, on every segment and word.
    let speakers: Value =
        serde_json::from_slice(&fetch_output(app, job, "speakers.json").await).unwrap();
    assert_eq!(
        speakers["speakers"].as_array().unwrap().len(),
        1,
        "{speakers}"
    );
    assert_eq!(speakers["speakers"][0]["id"], "S1", "{speakers}");
    for segment in transcript["segments"].as_array().unwrap() {
        assert_eq!(segment["speaker"], "S1", "{segment}");
        assert!(
            segment["words"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["speaker"] == "S1"),
            "{segment}"
        );
    }
    assert!(srt.contains("[S1] "), "{srt}");
    transcript
}

/// Each output names the model files behind it, with their checksums.
fn check_models(job: &Value) {
    let models_of = |name: &str| -> Vec<String> {
        let output = job["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {job}"));
        output["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["sha256"].as_str().unwrap().len(), 64, "{m}");
                m["name"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(models_of("loudness.json"), Vec::<String>::new());
    assert_eq!(models_of("silences.json"), ["silero_vad.onnx"]);
    assert_eq!(
        models_of("transcript.json"),
        [
            "silero_vad.onnx",
            // The default weights (CUTROOM_WHISPER_QUANT=q8_0).
            "whisper-tiny.en-q8_0.bin",
            "speaker-campplus.onnx"
        ]
    );
    assert_eq!(
        models_of("speakers.json"),
        ["silero_vad.onnx", "speaker-campplus.onnx"]
    );
    assert_eq!(
        models_of("moderation.json"),
        [
            "toxicity.onnx",
            "toxicity-vocab.json",
            "sentence-embedder.onnx",
            "sentence-tokenizer.json"
        ]
    );
    assert_eq!(
        models_of("analysis.json"),
        ["sentence-embedder.onnx", "sentence-tokenizer.json"]
    );
}

/// Ten seconds of one sentence: one chapter, a summary, no highlight; plain
/// speech: every segment scored, nothing flagged.
async fn check_analysis_and_moderation(app: &TestApp, job: &Value, transcript: &Value) {
    let analysis: Value =
        serde_json::from_slice(&fetch_output(app, job, "analysis.json").await).unwrap();
    assert_eq!(analysis["provider"], "builtin", "{analysis}");
    assert!(analysis["sentences"].as_u64().unwrap() >= 1, "{analysis}");
    let chapters = analysis["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), 1, "{analysis}");
    assert!(chapters[0]["start"].as_f64().unwrap() < 1.0, "{analysis}");
    assert!(
        !analysis["summary"].as_str().unwrap().is_empty(),
        "{analysis}"
    );
    assert_eq!(analysis["highlights"], json!([]), "{analysis}");
    // Plain speech: every segment scored, nothing flagged.
    let moderation: Value =
        serde_json::from_slice(&fetch_output(app, job, "moderation.json").await).unwrap();
    assert_eq!(moderation["status"], "ok", "{moderation}");
    assert_eq!(moderation["language"], "en", "{moderation}");
    assert_eq!(
        moderation["summary"]["segments"].as_u64().unwrap() as usize,
        transcript["segments"].as_array().unwrap().len(),
        "{moderation}"
    );
    assert_eq!(moderation["flags"], json!([]), "{moderation}");
    assert_eq!(moderation["summary"]["action"], "ignore", "{moderation}");
}

/// The same transcript through the API, and found by search; another
/// tenant finds nothing. Returns that other tenant's session.
async fn check_transcript_api(app: &TestApp, s: &Session, id: &str, transcript: &Value) -> Session {
    let (status, api) = app
        .get(&format!("/v1/jobs/{id}/transcript"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["segments"], transcript["segments"]);
    let (status, found) = app.get("/v1/search?q=STONE%20wall", &s.access_token).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let hits = found["results"].as_array().unwrap();
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h["job_id"] == id),
        "{found}"
    );
    let other = app.signup(&email("other"), "Other").await;
    let (_, none) = app.get("/v1/search?q=stone", &other.access_token).await;
    assert_eq!(none["results"], json!([]), "{none}");
    let (status, _) = app
        .get(&format!("/v1/jobs/{id}/transcript"), &other.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    other
}

/// A correction: the text and its words change, the times stay within the
/// segment, and search finds the new words; other tenants cannot.
async fn check_correction(
    app: &TestApp,
    s: &Session,
    other: &Session,
    id: &str,
    transcript: &Value,
) {
    let path = format!("/v1/jobs/{id}/transcript/segments/0");
    let segment = &transcript["segments"][0];
    let (status, fixed) = app
        .patch(
            &path,
            &s.access_token,
            json!({"text": "  Cobblestone   walls everywhere "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fixed}");
    assert_eq!(fixed["text"], "Cobblestone walls everywhere");
    assert!(fixed["edited_at"].is_string(), "{fixed}");
    let words: Vec<&str> = fixed["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["Cobblestone", "walls", "everywhere"]);
    for w in fixed["words"].as_array().unwrap() {
        assert!(
            w["start"].as_f64().unwrap() >= segment["start"].as_f64().unwrap() - 1e-6,
            "{fixed}"
        );
        assert!(
            w["end"].as_f64().unwrap() <= segment["end"].as_f64().unwrap() + 1e-6,
            "{fixed}"
        );
    }
    let (_, found) = app.get("/v1/search?q=cobblestone", &s.access_token).await;
    assert_eq!(found["results"].as_array().unwrap().len(), 1, "{found}");
    let (status, _) = app
        .patch(&path, &s.access_token, json!({"text": "  "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .patch(&path, &other.access_token, json!({"text": "hijacked"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .patch(
            &format!("/v1/jobs/{id}/transcript/segments/999"),
            &s.access_token,
            json!({"text": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Only outputs are kept, no scratch is left, and every stage has an event.
async fn check_cleanup_and_events(app: &TestApp, s: &Session, job: &Value) {
    let keys = app.stored_keys(&format!("tenants/{}/", s.tenant_id)).await;
    assert!(
        keys.iter().all(|k| k.contains("/jobs/")),
        "only outputs are kept: {keys:?}"
    );
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );

    let (status, events) = app
        .get(
            &format!("/v1/jobs/{}/events", job["id"].as_str().unwrap()),
            &s.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = events.to_string();
    for stage in [
        "fetch",
        "probe",
        "audio",
        "silence",
        "transcribe",
        "speakers",
        "analyze",
        "moderate",
        "clips",
        "publish",
    ] {
        assert!(text.contains(stage), "no {stage} event: {events}");
    }
}
both_dbs!(youtube_style_job_succeeds, super::youtube_style_job);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_youtube_urls_are_accepted() {
    let app = TestApp::builder(Db::Sqlite).without_worker().start().await;
    let s = app.signup(&email("ssrf"), "Guarded").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:5432/",
        "https://www.youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
        "https://youtube.com/watch?v=tooshort",
        "https://evil.example/?u=https://youtu.be/dQw4w9WgXcQ",
        "file:///etc/passwd",
        "https://user@www.youtube.com/watch?v=dQw4w9WgXcQ",
        "not a url",
        // yt-dlp option injection: nothing that starts with a dash, or
        // smuggles one into the command line, gets through.
        "--exec=touch /tmp/cutroom-pwned",
        "-o/tmp/cutroom-pwned https://youtu.be/dQw4w9WgXcQ",
        "--exec touch https://youtu.be/dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=--exec=touch",
        "https://youtu.be/dQw4w9WgXcQ --exec=touch",
        "https://www.youtube.com/redirect?q=http://169.254.169.254/",
    ] {
        let (status, err) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": url}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {err}");
        assert_eq!(err["code"], "invalid_source_url", "{url}");
    }
    for url in [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ",
        "https://youtube.com/shorts/dQw4w9WgXcQ",
        "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=42",
    ] {
        let (status, job) = app
            .post(
                "/v1/jobs",
                &s.access_token,
                json!({"source": {"type": "youtube", "url": url}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {job}");
        assert_eq!(
            job["source"]["url"], "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "normalised"
        );
    }
}

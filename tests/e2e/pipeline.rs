//! Jobs through the whole pipeline: fetch once (yt-dlp from a loopback
//! server, or an upload from storage), probe, decode, voice activity,
//! transcription, outputs in storage, original deleted, scratch removed.

use std::time::Duration;

use cutroom_tests::{Db, SourceServer, Store, TestApp, both_dbs, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const GAPS: [(f64, f64); 2] = [(2.0, 3.5), (6.0, 7.0)];
const JOB_LIMIT: Duration = Duration::from_secs(120);

/// Downloads an output through its presigned URL and checks its recorded digest.
pub(crate) async fn fetch_output(app: &TestApp, job: &Value, name: &str) -> Vec<u8> {
    let outputs = job["outputs"].as_array().expect("outputs");
    let out = outputs
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {job}"));
    let res = app
        .client
        .get(out["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    assert_eq!(out["size_bytes"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(
        out["sha256"].as_str().unwrap(),
        hex(&Sha256::digest(&bytes))
    );
    bytes
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// With the default margin (100 ms), each silent gap shrinks by 0.1 s per side.
fn assert_silences_match(silences: &Value, duration: f64) {
    assert_eq!(silences["version"], 1);
    assert!(
        (silences["duration"].as_f64().unwrap() - duration).abs() < 0.1,
        "{silences}"
    );
    let found = silences["silences"].as_array().unwrap();
    assert_eq!(found.len(), GAPS.len(), "silences: {silences}");
    for (got, (start, end)) in found.iter().zip(GAPS) {
        let (s, e) = (got["start"].as_f64().unwrap(), got["end"].as_f64().unwrap());
        assert!(
            (s - (start + 0.1)).abs() < 0.06,
            "silence start {s} vs {start}: {silences}"
        );
        assert!(
            (e - (end - 0.1)).abs() < 0.06,
            "silence end {e} vs {end}: {silences}"
        );
    }
    let speech = silences["speech"].as_array().unwrap();
    assert_eq!(speech.len(), 3, "speech around two gaps: {silences}");
    assert_eq!(speech[0]["start"].as_f64().unwrap(), 0.0);
}

/// The transcript heard the synthetic sentence, and every word lies
/// inside a speech interval.
fn assert_transcript_matches(transcript: &Value, silences: &Value) {
    assert_eq!(transcript["version"], 1);
    assert_eq!(transcript["model"], "tiny.en");
    assert_eq!(transcript["language"], "en");
    let segments = transcript["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{transcript}");
    let speech: Vec<(f64, f64)> = silences["speech"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["start"].as_f64().unwrap(), i["end"].as_f64().unwrap()))
        .collect();
    let mut heard = String::new();
    for segment in segments {
        for word in segment["words"].as_array().unwrap() {
            let (s, e) = (
                word["start"].as_f64().unwrap(),
                word["end"].as_f64().unwrap(),
            );
            assert!(
                speech.iter().any(|(a, b)| *a <= s && e <= *b && s <= e),
                "word {word} outside speech {speech:?}"
            );
            heard.push_str(&word["text"].as_str().unwrap().to_lowercase());
            heard.push(' ');
        }
    }
    // tiny.en hears espeak's robot voice imperfectly ("brown fox" comes
    // out as "roundfark"); these words it gets.
    for word in ["quick", "quietly", "stone", "wall"] {
        assert!(heard.contains(word), "`{word}` not in {heard}");
    }
}

async fn youtube_style_job(db: Db) {
    let source = SourceServer::start().await;
    media::talk_with_gaps(&source.path("talk.mp4"), 10.0, &GAPS);
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("yt"), "Tube").await;

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

    let silences: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "silences.json").await).unwrap();
    assert_silences_match(&silences, 10.0);
    let transcript: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "transcript.json").await).unwrap();
    assert_transcript_matches(&transcript, &silences);
    let srt = String::from_utf8(fetch_output(&app, &job, "transcript.srt").await).unwrap();
    assert!(srt.starts_with("1\n00:00:0"), "{srt}");
    // One voice: one speaker, on every segment and word.
    let speakers: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "speakers.json").await).unwrap();
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
    // Each output names the model files behind it, with their checksums.
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
            "speaker-embedder.onnx"
        ]
    );
    assert_eq!(
        models_of("speakers.json"),
        ["silero_vad.onnx", "speaker-embedder.onnx"]
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
    // Ten seconds of one sentence: one chapter over the speech, a summary,
    // and no highlight (none can be 15 s long).
    let analysis: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "analysis.json").await).unwrap();
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
        serde_json::from_slice(&fetch_output(&app, &job, "moderation.json").await).unwrap();
    assert_eq!(moderation["status"], "ok", "{moderation}");
    assert_eq!(moderation["language"], "en", "{moderation}");
    assert_eq!(
        moderation["summary"]["segments"].as_u64().unwrap() as usize,
        transcript["segments"].as_array().unwrap().len(),
        "{moderation}"
    );
    assert_eq!(moderation["flags"], json!([]), "{moderation}");
    assert_eq!(moderation["summary"]["action"], "ignore", "{moderation}");

    // The same transcript through the API, and found by search; another
    // tenant finds nothing.
    let id = job["id"].as_str().unwrap();
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

    // A correction: the text and its words change, the times stay within
    // the segment, and search finds the new words; other tenants cannot.
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

async fn upload_job(db: Db, store: Store) {
    let app = TestApp::builder(db).store(store).start().await;
    let s = app.signup(&email("upl"), "Uploader").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lecture.mp4");
    media::talk_with_gaps(&file, 10.0, &GAPS);

    let upload_id = app
        .upload(
            &s.access_token,
            "lecture.mp4",
            "video/mp4",
            std::fs::read(&file).unwrap(),
        )
        .await;
    let uploads = cutroom_core::storage::uploads_prefix(s.tenant_id.parse().unwrap());
    assert_eq!(
        app.stored_keys(&uploads).await.len(),
        1,
        "the original is in storage until the worker has it"
    );

    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let silences: Value =
        serde_json::from_slice(&fetch_output(&app, &job, "silences.json").await).unwrap();
    assert_silences_match(&silences, 10.0);

    assert!(
        app.stored_keys(&uploads).await.is_empty(),
        "the original is deleted after the job"
    );
    // The whole store holds exactly what the API lists for the job: its
    // outputs and its clips' files, and nothing else (no original, no
    // scratch file, no stray part).
    let job_id = job["id"].as_str().unwrap();
    let prefix =
        cutroom_core::storage::job_prefix(s.tenant_id.parse().unwrap(), job_id.parse().unwrap());
    let mut listed: std::collections::BTreeSet<String> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{prefix}{}", o["name"].as_str().unwrap()))
        .collect();
    let (_, clips) = app
        .get(&format!("/v1/jobs/{job_id}/clips"), &s.access_token)
        .await;
    for c in clips["items"].as_array().unwrap() {
        for f in c["files"].as_array().unwrap() {
            listed.insert(format!("{prefix}{}", f["name"].as_str().unwrap()));
        }
    }
    let stored: std::collections::BTreeSet<String> =
        app.stored_keys("").await.into_iter().collect();
    assert_eq!(stored, listed, "only the job's outputs remain");
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );

    // Deleting the job removes its outputs too.
    let (status, _) = app
        .delete(&format!("/v1/jobs/{job_id}"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        app.stored_keys(&format!("tenants/{}/", s.tenant_id))
            .await
            .is_empty()
    );
    let (status, _) = app
        .get(&format!("/v1/jobs/{job_id}"), &s.access_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_s3_sqlite() {
    upload_job(Db::Sqlite, Store::S3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_s3_postgres() {
    upload_job(Db::Postgres, Store::S3).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_job_succeeds_local_sqlite() {
    upload_job(Db::Sqlite, Store::Local).await
}

async fn bad_media_fails_cleanly(db: Db) {
    let app = TestApp::builder(db).store(Store::S3).start().await;
    let s = app.signup(&email("bad"), "Bad Media").await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    media::video_with_gaps(&good, 10.0, &[]);
    let truncated = dir.path().join("truncated.mp4");
    media::truncated_copy(&good, &truncated, 0.4);

    let cases = [
        ("notes.mp4", b"this is not a video, just some text".to_vec()),
        ("truncated.mp4", std::fs::read(&truncated).unwrap()),
    ];
    for (name, bytes) in cases {
        let upload_id = app.upload(&s.access_token, name, "video/mp4", bytes).await;
        let (status, job) = app
            .post(
                &format!("/v1/uploads/{upload_id}/complete"),
                &s.access_token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        let job = app
            .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
            .await;
        assert_eq!(job["status"], "failed", "{name}: {job}");
        assert_eq!(job["error"]["code"], "unsupported_media", "{name}: {job}");
        assert!(
            !job["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(job["outputs"], json!([]), "{name}");
    }
    assert!(
        app.stored_keys(&format!("tenants/{}/", s.tenant_id))
            .await
            .is_empty(),
        "originals deleted, nothing kept"
    );
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
}
both_dbs!(
    non_media_and_truncated_uploads_fail_cleanly,
    super::bad_media_fails_cleanly
);

async fn unavailable_source(db: Db) {
    let source = SourceServer::start().await;
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("gone"), "Gone").await;
    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("deleted.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "source_unavailable", "{job}");
    assert!(app.scratch_entries().is_empty());

    // The dead letter: an admin retries it once the source is there, and
    // the history keeps both attempts.
    let id = job["id"].as_str().unwrap();
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &s.access_token,
            json!({"name": "member", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = app
        .post(
            &format!("/v1/jobs/{id}/retry"),
            key["key"].as_str().unwrap(),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins retry: {err}");
    media::spoken(
        &source.path("deleted.mp4"),
        "Here it is at last, ready for a second try.",
    );
    let (status, retried) = app
        .post(&format!("/v1/jobs/{id}/retry"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert!(retried["error"].is_null(), "{retried}");
    let job = app.wait_for_job(&s.access_token, id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (status, err) = app
        .post(&format!("/v1/jobs/{id}/retry"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "job_succeeded");
    let history = app.status_events(&s.access_token, id).await;
    let statuses: Vec<&str> = history.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "queued",
            "running",
            "failed",
            "requeued",
            "running",
            "succeeded"
        ],
        "{history:?}"
    );
}
both_dbs!(
    unavailable_source_fails_with_a_code,
    super::unavailable_source
);

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

async fn cancellation(db: Db) {
    let source = SourceServer::start().await;
    media::video_with_gaps(&source.path("long.mp4"), 20.0, &GAPS);
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("cancel"), "Cancel").await;

    let (status, job) = app
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": source.url("slow/long.mp4")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["id"].as_str().unwrap().to_owned();
    // Wait until the worker is downloading, then cancel.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, j) = app.get(&format!("/v1/jobs/{id}"), &s.access_token).await;
        if j["status"] == "running" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never started: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, j) = app
        .post(&format!("/v1/jobs/{id}/cancel"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    let job = app
        .wait_for_job(&s.access_token, &id, Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert_eq!(job["error"]["code"], "cancelled");
    assert!(
        app.scratch_entries().is_empty(),
        "scratch left behind: {:?}",
        app.scratch_entries()
    );
    let (status, err) = app
        .post(&format!("/v1/jobs/{id}/cancel"), &s.access_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    // A queued job is cancelled at once; with no worker it never runs.
    let idle = TestApp::builder(db).without_worker().start().await;
    let s = idle.signup(&email("queued"), "Queued").await;
    let (_, job) = idle
        .post(
            "/v1/jobs",
            &s.access_token,
            json!({"source": {"type": "youtube", "url": "https://youtu.be/dQw4w9WgXcQ"}}),
        )
        .await;
    let (status, job) = idle
        .post(
            &format!("/v1/jobs/{}/cancel", job["id"].as_str().unwrap()),
            &s.access_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["status"], "cancelled", "{job}");
}
both_dbs!(
    cancellation_stops_running_and_queued_jobs,
    super::cancellation
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_sources_are_rejected_early() {
    let app = TestApp::builder(Db::Sqlite)
        .configure(|c| c.max_duration = Duration::from_secs(5))
        .start()
        .await;
    let s = app.signup(&email("long"), "Long").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ten-seconds.mp4");
    media::video_with_gaps(&file, 10.0, &[]);
    let upload_id = app
        .upload(
            &s.access_token,
            "ten-seconds.mp4",
            "video/mp4",
            std::fs::read(&file).unwrap(),
        )
        .await;
    let (_, job) = app
        .post(
            &format!("/v1/uploads/{upload_id}/complete"),
            &s.access_token,
            json!({}),
        )
        .await;
    let job = app
        .wait_for_job(&s.access_token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "source_too_long", "{job}");
    let (_, events) = app
        .get(
            &format!("/v1/jobs/{}/events", job["id"].as_str().unwrap()),
            &s.access_token,
        )
        .await;
    assert!(
        !events.to_string().contains("\"audio\""),
        "rejected at probe, before decoding: {events}"
    );
    assert!(app.scratch_entries().is_empty());
}

//! What a finished batch is checked for: its children, filters, review
//! queue, results export, history, and another tenant's view.

use std::path::{Path, PathBuf};

use cutroom_tests::{Session, TestApp, email, media};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SPEAKERS, children, stem};

/// One child per recording, in archive order, each with its metadata row
/// and an Opus copy as long as its source.
pub(super) async fn check_children(app: &TestApp, token: &str, id: &str, recordings: &[Vec<u8>]) {
    let jobs = children(app, token, id).await;
    assert_eq!(jobs.len(), recordings.len());
    let dir = tempfile::tempdir().unwrap();
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(job["batch_id"], id, "{job}");
        let path = format!("recordings/{}.mp3", stem(i));
        assert_eq!(job["entry_path"], path.as_str(), "{job}");
        assert_eq!(job["title"], format!("{}.mp3", stem(i)), "{job}");
        if i < recordings.len() - 2 {
            assert_eq!(job["metadata"]["meta_id"], stem(i), "{job}");
            assert_eq!(job["metadata"]["speaker"], SPEAKERS[i % 3], "{job}");
            assert_eq!(job["metadata"]["year"], 2020 + (i % 2), "{job}");
        } else {
            assert!(job.get("metadata").is_none_or(Value::is_null), "{job}");
        }
    }
    // The Opus copies: one in three, downloaded and measured by ffprobe.
    for (i, job) in jobs.iter().enumerate().step_by(3) {
        let (_, full) = app
            .get(&format!("/v1/jobs/{}", job["id"].as_str().unwrap()), token)
            .await;
        let opus = full["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "recording.opus")
            .unwrap_or_else(|| panic!("no recording.opus: {full}"));
        assert_eq!(opus["content_type"], "audio/ogg; codecs=opus");
        let bytes = reqwest::get(opus["url"].as_str().unwrap())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(bytes.starts_with(b"OggS"), "not an Ogg file");
        let path: PathBuf = dir.path().join(format!("{i}.opus"));
        std::fs::write(&path, &bytes).unwrap();
        let source = dir.path().join(format!("{i}.mp3"));
        std::fs::write(&source, &recordings[i]).unwrap();
        let (got, want) = (decoded_seconds(&path), decoded_seconds(&source));
        assert!(
            (got - want).abs() <= want * 0.005 + 0.02,
            "{got} s against {want} s"
        );
    }
}

/// How long `path` is once decoded by FFmpeg (an MP3's header figure
/// counts its encoder's padding).
fn decoded_seconds(path: &Path) -> f64 {
    let wav = path.with_extension("decoded.wav");
    media::ffmpeg(&[
        "-y",
        "-loglevel",
        "error",
        "-i",
        path.to_str().unwrap(),
        "-ac",
        "1",
        "-c:a",
        "pcm_s16le",
        wav.to_str().unwrap(),
    ]);
    media::duration(&wav)
}

/// `GET /v1/jobs` finds the children by batch and by metadata, and leaves
/// them out of the plain list.
pub(super) async fn check_filters(app: &TestApp, token: &str, id: &str, files: usize) {
    let count = |q: String| async move {
        let (status, page) = app.get(&format!("/v1/jobs?limit=100{q}"), token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().len()
    };
    assert_eq!(count(format!("&batch_id={id}")).await, files.min(100));
    let named = files - 2;
    let ada = (0..named).filter(|i| i % 3 == 0).count();
    assert_eq!(
        count(format!("&batch_id={id}&metadata.speaker=Ada")).await,
        ada
    );
    let ada_2021 = (0..named).filter(|i| i % 3 == 0 && i % 2 == 1).count();
    assert_eq!(
        count(format!(
            "&batch_id={id}&metadata.speaker=Ada&metadata.year=2021"
        ))
        .await,
        ada_2021
    );
    assert_eq!(count("&metadata.meta_id=audio001".into()).await, 1);
    assert_eq!(count("&metadata.speaker=Nobody".into()).await, 0);
    // The plain list shows the batch's unpack job, not its children.
    let (_, page) = app.get("/v1/jobs?limit=100", token).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert!(items[0]["unpacks_batch_id"] == id, "{page}");
    // A field name that is no name is refused.
    let (status, body) = app.get("/v1/jobs?metadata.sp%27eaker=Ada", token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_query");
}

/// The threats (every fourth recording) wait in the review queue, which
/// filters them by batch and by metadata.
pub(super) async fn check_review(app: &TestApp, token: &str, id: &str, files: usize) {
    let flagged_jobs = |q: String| async move {
        let (status, page) = app
            .get(
                &format!("/v1/review?status=all&limit=100&batch_id={id}{q}"),
                token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let jobs: std::collections::BTreeSet<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["job_id"].as_str().unwrap().to_owned())
            .collect();
        jobs.len()
    };
    let threats = (0..files).filter(|i| i % 4 == 3).count();
    assert_eq!(flagged_jobs(String::new()).await, threats);
    let named = files - 2;
    let ada = (0..named).filter(|i| i % 4 == 3 && i % 3 == 0).count();
    assert!(ada > 0);
    assert_eq!(flagged_jobs("&metadata.speaker=Ada".into()).await, ada);
    let (_, other) = app
        .get(
            &format!("/v1/review?status=all&batch_id={}", uuid::Uuid::now_v7()),
            token,
        )
        .await;
    assert_eq!(other["items"], json!([]));
}

/// The python with pandas, pyarrow and duckdb that `.ci/setup --test`
/// installs.
fn readers_python() -> PathBuf {
    std::env::var_os("CUTROOM_TEST_READERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/cutroom/readers-venv/bin/python")
        })
}

/// The results export: JSON lines read here, parquet read by pandas and by
/// DuckDB, both with a row per recording and the right metadata, text
/// and moderation.
pub(super) async fn check_results(app: &TestApp, token: &str, id: &str, files: usize) {
    let url = |format: &str| format!("{}/v1/batches/{id}/results?format={format}", app.base);
    let client = reqwest::Client::new();
    let get = |format: &'static str| {
        let req = client.get(url(format)).bearer_auth(token);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, res.bytes().await.unwrap())
        }
    };
    let (ct, jsonl) = get("jsonl").await;
    assert_eq!(ct, "application/x-ndjson");
    let rows: Vec<Value> = std::str::from_utf8(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), files);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r["entry_path"],
            format!("recordings/{}.mp3", stem(i)),
            "{r}"
        );
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["language"], "en", "{r}");
        assert!(r["duration_seconds"].as_f64().unwrap() > 1.0, "{r}");
        assert!(!r["transcript"].as_str().unwrap().is_empty(), "{r}");
        assert!(r["opus_url"].is_string(), "{r}");
        assert_eq!(r["flags"].as_u64().unwrap() > 0, i % 4 == 3, "{r}");
        if i < files - 2 {
            assert_eq!(r["metadata"]["meta_id"], stem(i), "{r}");
        }
    }
    let (ct, parquet) = get("parquet").await;
    assert_eq!(ct, "application/vnd.apache.parquet");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.parquet");
    std::fs::write(&path, &parquet).unwrap();
    let script = r#"
import json, sys
import duckdb, pandas as pd
path = sys.argv[1]
df = pd.read_parquet(path)
meta = df["metadata"].dropna().map(json.loads)
ada = int((meta.map(lambda m: m.get("speaker")) == "Ada").sum())
flagged = duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE flags > 0").fetchall()[0][0]
years = duckdb.sql(
    f"SELECT count(*) FROM '{path}' WHERE json_extract(metadata, '$.year')::INT = 2021"
).fetchall()[0][0]
print(json.dumps({"rows": len(df), "columns": list(df.columns), "ada": ada,
                  "flagged": flagged, "years_2021": years}))
"#;
    let out = std::process::Command::new(readers_python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("python with pandas and duckdb: {e} (bash .ci/setup --test)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let named = files - 2;
    assert_eq!(read["rows"], files, "{read}");
    assert_eq!(
        read["ada"],
        (0..named).filter(|i| i % 3 == 0).count(),
        "{read}"
    );
    assert_eq!(
        read["flagged"],
        (0..files).filter(|i| i % 4 == 3).count(),
        "{read}"
    );
    assert_eq!(
        read["years_2021"],
        (0..named).filter(|i| i % 2 == 1).count(),
        "{read}"
    );
    for c in [
        "job_id",
        "entry_path",
        "metadata",
        "transcript",
        "language",
        "max_score",
        "opus_url",
    ] {
        assert!(
            read["columns"].as_array().unwrap().iter().any(|x| x == c),
            "{c}: {read}"
        );
    }
}

/// The unpack job's history says when the batch was unpacked and completed.
pub(super) async fn check_events(app: &TestApp, token: &str, batch: &Value) {
    let job = batch["unpack_job_id"].as_str().unwrap();
    let (status, events) = app.get(&format!("/v1/jobs/{job}/events"), token).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .or_else(|| events.as_array())
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"batch_unpacked"), "{kinds:?}");
    assert!(kinds.contains(&"batch_completed"), "{kinds:?}");
}

pub(super) async fn another_tenant(app: &TestApp, id: &str) {
    let other: Session = app.signup(&email("other"), "Other").await;
    let t = other.access_token.as_str();
    let (status, _) = app.get(&format!("/v1/batches/{id}"), t).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/v1/batches/{id}/jobs"), t).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(&format!("/v1/batches/{id}/cancel"), t, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/v1/batches", t).await;
    assert_eq!(list["items"], json!([]));
    let (_, jobs) = app.get(&format!("/v1/jobs?batch_id={id}"), t).await;
    assert_eq!(jobs["items"], json!([]));
    let (_, jobs) = app.get("/v1/jobs?metadata.speaker=Ada", t).await;
    assert_eq!(jobs["items"], json!([]));
}

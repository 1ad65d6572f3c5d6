//! Batches from manifests: a JSONL file of links (fetched by yt-dlp from a
//! loopback server) with their metadata, and an archive whose CSV manifest
//! names its recordings by path. Links a job could not name are refused
//! here too, and rows that find nothing are reported.

use cutroom_tests::{Db, SourceServer, TestApp, archive::tar_gz, both_dbs, email};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{children, recordings, submit_as, wait_for_batch};

/// Rows of JSON Lines.
fn jsonl(rows: &[Value]) -> Vec<u8> {
    rows.iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A manifest of links runs a child per accepted link, with its row.
async fn links(db: Db) {
    let source = SourceServer::start().await;
    let made = recordings(&source.path(""), 2);
    for (i, bytes) in made.iter().enumerate() {
        std::fs::write(source.path(&format!("talk{i}.mp3")), bytes).unwrap();
    }
    let app = TestApp::builder(db).allow_source(&source).start().await;
    let s = app.signup(&email("manifest"), "Manifests").await;
    let manifest = jsonl(&[
        json!({"source": source.url("talk0.mp3"), "speaker": "Ann", "year": 1999}),
        json!({"source": source.url("talk1.mp3"), "speaker": "Bob"}),
        // Not a host jobs may name: refused, as POST /v1/jobs refuses it.
        json!({"source": "http://169.254.169.254/latest/meta-data", "speaker": "Eve"}),
        json!({"speaker": "Nobody"}),
        // A manifest alone has no files to name.
        json!({"source": "talks/a.mp3", "speaker": "Pat"}),
        json!({"source": source.url("talk0.mp3"), "speaker": "Again"}),
    ]);
    let started = submit_as(
        &app,
        &s.access_token,
        "links.jsonl",
        manifest,
        json!({"job": {"audio_only": true}}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    let batch = wait_for_batch(&app, &s.access_token, id).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["jobs"]["succeeded"], 2, "{batch}");
    assert_eq!(batch["refused"].as_array().unwrap().len(), 1, "{batch}");
    assert_eq!(batch["refused"][0]["path"], "links.jsonl#2");
    assert_eq!(batch["refused"][0]["reason"], "bad_source");
    let u = &batch["unmatched"];
    assert_eq!(
        u["rows_without_key"],
        json!([{"file": "links.jsonl", "row": 3}]),
        "{u}"
    );
    assert_eq!(u["rows_without_files"][0]["key"], "talks/a.mp3", "{u}");
    assert_eq!(u["duplicate_keys"][0]["row"], 5, "{u}");

    let kids = children(&app, &s.access_token, id).await;
    let mut seen: Vec<(String, String, Value)> = kids
        .iter()
        .map(|k| {
            assert_eq!(k["source"]["type"], "youtube", "{k}");
            (
                k["entry_path"].as_str().unwrap().to_owned(),
                k["metadata"]["speaker"].as_str().unwrap().to_owned(),
                k["metadata"]["year"].clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("links.jsonl#0".into(), "Ann".into(), json!(1999)),
            ("links.jsonl#1".into(), "Bob".into(), Value::Null),
        ]
    );
    let (status, page) = app
        .get(
            &format!("/v1/jobs?batch_id={id}&metadata.speaker=Bob"),
            &s.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let res = app
        .client
        .get(format!("{}/v1/batches/{id}/results?format=jsonl", app.base))
        .bearer_auth(&s.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows.iter()
            .all(|r| r["transcript"].as_str().is_some_and(|t| !t.is_empty())),
        "{text}"
    );
}

both_dbs!(a_manifest_of_links_runs_a_child_per_link, super::links);

/// An archive's CSV manifest names its recordings by path; its rows win
/// over stems, and a row naming no file is reported.
async fn paths(db: Db) {
    let app = TestApp::start(db).await;
    let s = app.signup(&email("paths"), "Paths").await;
    let made = recordings(app.dir.path(), 2);
    let csv = "source,speaker\naudio/one.mp3,Ann\n./audio//two.mp3,Bob\naudio/none.mp3,Zed\n";
    let archive = tar_gz(&[
        ("audio/one.mp3".to_owned(), made[0].clone()),
        ("audio/two.mp3".to_owned(), made[1].clone()),
        ("audio/three.mp3".to_owned(), made[0].clone()),
        ("manifest.csv".to_owned(), csv.as_bytes().to_vec()),
    ]);
    let started = submit_as(
        &app,
        &s.access_token,
        "archive.tar.gz",
        archive,
        json!({"job": {"audio_only": true}}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    // Unpacked once the children exist; they need not run for this (the
    // batch is cancelled below).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    let batch = loop {
        let (_, b) = app.get(&format!("/v1/batches/{id}"), &s.access_token).await;
        if b["entries_total"].is_number() {
            break b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never unpacked: {b}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(batch["entries_total"], 4, "{batch}");
    let u = &batch["unmatched"];
    assert_eq!(u["files_without_rows"], json!(["audio/three.mp3"]), "{u}");
    assert_eq!(u["rows_without_files"][0]["key"], "audio/none.mp3", "{u}");
    let mut seen: Vec<(String, Value)> = children(&app, &s.access_token, id)
        .await
        .iter()
        .map(|k| {
            (
                k["entry_path"].as_str().unwrap().to_owned(),
                k["metadata"]["speaker"].clone(),
            )
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("audio/one.mp3".into(), json!("Ann")),
            ("audio/three.mp3".into(), Value::Null),
            ("audio/two.mp3".into(), json!("Bob")),
        ]
    );
    let (status, _) = app
        .post(
            &format!("/v1/batches/{id}/cancel"),
            &s.access_token,
            json!({}),
        )
        .await;
    assert!(status.is_success());
}

both_dbs!(an_archive_manifest_names_files_by_path, super::paths);

//! Batches end to end, on SQLite with local storage and PostgreSQL with
//! S3: a `.tar.gz` of real MP3 speech (espeak-ng) and a parquet file of
//! metadata written here, some rows naming no file and some files without
//! a row, beside hostile entries (`../escape.mp3`, an absolute path, a
//! symlink, a small entry that inflates to 1 GiB, text named `.mp3`).
//! Every recording becomes a child job with its metadata row and an Opus
//! copy that decodes to its length; every hostile entry is refused and
//! listed; nothing is written outside the scratch folder, no original is
//! left in storage; metadata filters find the children; another tenant
//! sees none of it.

use std::{
    collections::BTreeMap,
    io::{self, Read},
    path::Path,
    sync::Arc,
    time::Duration,
};

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use cutroom_tests::{Db, Store, TestApp, archive::append, email, media};
use parquet::arrow::ArrowWriter;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tar::{EntryType, Header};

mod checks;
mod manifest;

use checks::{
    another_tenant, check_children, check_events, check_filters, check_results, check_review,
};

const LIMIT: Duration = Duration::from_secs(600);

/// Speakers the metadata names, in turn.
const SPEAKERS: [&str; 3] = ["Ada", "Grace", "Edsger"];

/// `n` spoken MP3s (a few different sentences, reused), 16 kHz mono.
pub fn recordings(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let sentences = [
        "The archive holds many short recordings of people speaking.",
        "Every file becomes a job with its own metadata row.",
        "Please keep the volume down in the reading room.",
        // A threat: moderation flags it, and the review queue finds it by
        // batch and by metadata.
        "I am going to kill you when I see you.",
    ];
    let mut made = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        let wav = dir.join(format!("s{i}.wav"));
        let mp3 = dir.join(format!("s{i}.mp3"));
        media::espeak(&wav, "en-us", s);
        media::ffmpeg(&[
            "-y",
            "-loglevel",
            "error",
            "-i",
            wav.to_str().unwrap(),
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "32k",
            mp3.to_str().unwrap(),
        ]);
        made.push(std::fs::read(&mp3).unwrap());
    }
    (0..n).map(|i| made[i % made.len()].clone()).collect()
}

/// The stem of recording `i`, as the archive and the metadata name it.
pub fn stem(i: usize) -> String {
    format!("audio{i:03}")
}

/// A parquet file of `meta_id`, `speaker` and `year` for recordings
/// `0..named`, and two rows that name no file.
pub fn metadata(named: usize) -> Vec<u8> {
    let mut ids: Vec<String> = (0..named).map(stem).collect();
    ids.extend(["ghost-1".to_owned(), "ghost-2".to_owned()]);
    let speakers: Vec<&str> = (0..ids.len()).map(|i| SPEAKERS[i % 3]).collect();
    let years: Vec<i64> = (0..ids.len()).map(|i| 2020 + (i % 2) as i64).collect();
    let batch = RecordBatch::try_from_iter([
        ("meta_id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("speaker", Arc::new(StringArray::from(speakers)) as ArrayRef),
        ("year", Arc::new(Int64Array::from(years)) as ArrayRef),
    ])
    .unwrap();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// Hostile entries, by path, with the reason each must be refused for.
pub struct Hostile {
    pub absolute: String,
}

impl Hostile {
    pub fn expected(&self) -> BTreeMap<String, &'static str> {
        BTreeMap::from([
            ("../escape.mp3".to_owned(), "path_escapes"),
            (self.absolute.clone(), "absolute_path"),
            ("recordings/link.mp3".to_owned(), "link"),
            ("recordings/notes.mp3".to_owned(), "not_audio"),
            ("recordings/bomb.mp3".to_owned(), "bomb"),
        ])
    }
}

/// The archive: `recordings/<stem>.mp3` for each recording, the metadata
/// (rows for all but the last two), and with `hostile` its entries too.
/// Gzipped.
pub fn archive(recordings: &[Vec<u8>], hostile: Option<&Hostile>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (i, bytes) in recordings.iter().enumerate() {
        let path = format!("recordings/{}.mp3", stem(i));
        append(&mut tar, &path, bytes.as_slice(), bytes.len() as u64);
    }
    let meta = metadata(recordings.len().saturating_sub(2));
    append(
        &mut tar,
        "metadata/rows.parquet",
        meta.as_slice(),
        meta.len() as u64,
    );
    if let Some(h) = hostile {
        let mp3 = &recordings[0];
        append(&mut tar, "../escape.mp3", mp3.as_slice(), mp3.len() as u64);
        append(&mut tar, &h.absolute, mp3.as_slice(), mp3.len() as u64);
        let mut link = Header::new_gnu();
        link.set_size(0);
        link.set_entry_type(EntryType::Symlink);
        link.set_path("recordings/link.mp3").unwrap();
        link.set_link_name("/etc/passwd").unwrap();
        link.set_cksum();
        tar.append(&link, io::empty()).unwrap();
        let text = b"These are the reading room's opening hours, not audio.";
        append(
            &mut tar,
            "recordings/notes.mp3",
            &text[..],
            text.len() as u64,
        );
        // An MP3's first bytes, then 1 GiB of zeros: about 1 MiB gzipped.
        let len = 1u64 << 30;
        append(
            &mut tar,
            "recordings/bomb.mp3",
            io::Cursor::new(mp3[..64].to_vec()).chain(io::repeat(0).take(len - 64)),
            len,
        );
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Creates a batch for `bytes`, uploads them and starts it; returns the
/// batch as `start` answered.
pub async fn submit(app: &TestApp, token: &str, bytes: Vec<u8>, options: Value) -> Value {
    submit_as(app, token, "archive.tar.gz", bytes, options).await
}

/// [`submit`], the batch's file named `name`.
pub async fn submit_as(
    app: &TestApp,
    token: &str,
    name: &str,
    bytes: Vec<u8>,
    options: Value,
) -> Value {
    let (status, created) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": name, "size_bytes": bytes.len(), "options": options}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["batch"]["status"], "uploading", "{created}");
    let id = created["batch"]["id"].as_str().unwrap().to_owned();
    // Started before the archive is there: refused, and it may be started again.
    let (status, early) = app
        .post(&format!("/v1/batches/{id}/start"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{early}");
    assert_eq!(early["code"], "upload_missing", "{early}");
    let put = app.put_presigned(&created["upload"], bytes).await;
    assert!(put.is_success(), "PUT answered {put}");
    let (status, started) = app
        .post(&format!("/v1/batches/{id}/start"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["status"], "unpacking", "{started}");
    let (status, again) = app
        .post(&format!("/v1/batches/{id}/start"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "started twice: {again}");
    started
}

/// Polls the batch until it has ended.
pub async fn wait_for_batch(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (status, batch) = app.get(&format!("/v1/batches/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        if ["completed", "failed", "cancelled"].contains(&batch["status"].as_str().unwrap()) {
            return batch;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch did not end in {LIMIT:?}: {batch}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every child of the batch, page by page.
pub async fn children(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .get(&format!("/v1/batches/{id}/jobs?limit=20{cursor}"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return all,
        }
    }
}

async fn archive_of_recordings(db: Db, store: Store, files: usize) {
    let app = TestApp::builder(db).store(store).start().await;
    let s = app.signup(&email("batch"), "Archive").await;
    let token = s.access_token.as_str();
    let dir = tempfile::tempdir().unwrap();
    let recordings = recordings(dir.path(), files);
    let absolute = std::env::temp_dir().join(format!("cutroom-abs-{}.mp3", uuid::Uuid::new_v4()));
    let hostile = Hostile {
        absolute: absolute.display().to_string(),
    };
    let bytes = archive(&recordings, Some(&hostile));
    assert!(bytes.len() < 8 << 20, "{} bytes", bytes.len());
    let options = json!({"job": {"clips": {"count": 0}}, "opus_kbps": 24});
    let started = submit(&app, token, bytes, options).await;
    let id = started["id"].as_str().unwrap().to_owned();
    let batch = wait_for_batch(&app, token, &id).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["jobs"]["succeeded"], files, "{batch}");
    assert_eq!(batch["jobs"]["failed"], 0, "{batch}");
    assert_eq!(batch["entries_total"], files + 1, "{batch}");
    assert!(batch["eta"].is_null(), "{batch}");
    let refused: BTreeMap<String, &str> = batch["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(refused, hostile.expected(), "{batch}");
    let unmatched = &batch["unmatched"];
    assert_eq!(
        unmatched["files_without_rows"],
        json!([
            format!("recordings/{}.mp3", stem(files - 2)),
            format!("recordings/{}.mp3", stem(files - 1))
        ]),
        "{batch}"
    );
    let ghosts: Vec<&str> = unmatched["rows_without_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(ghosts, ["ghost-1", "ghost-2"], "{batch}");
    // Nothing escaped the scratch folder, and none of it is left.
    assert!(!absolute.exists(), "{} was written", absolute.display());
    let scratch = app.scratch_dir();
    for dir in [scratch.parent().unwrap(), scratch.as_path()] {
        assert!(
            !dir.join("escape.mp3").exists(),
            "escape.mp3 in {}",
            dir.display()
        );
    }
    assert_eq!(app.scratch_entries(), Vec::<String>::new());
    check_children(&app, token, &id, &recordings).await;
    check_filters(&app, token, &id, files).await;
    check_review(&app, token, &id, files).await;
    check_results(&app, token, &id, files).await;
    check_events(&app, token, &batch).await;
    // No original is kept: the archive and every recording are gone.
    let originals = app.stored_keys(&format!("uploads/{}/", s.tenant_id)).await;
    assert_eq!(originals, Vec::<String>::new());
    another_tenant(&app, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_recordings_sqlite_local_storage() {
    archive_of_recordings(Db::Sqlite, Store::Local, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_recordings_postgres_s3() {
    archive_of_recordings(Db::Postgres, Store::S3, 12).await;
}

/// An archive that is no archive fails the batch with a code, and a batch
/// can be cancelled with its children.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_archives_fail_and_batches_cancel() {
    let app = TestApp::start(Db::Sqlite).await;
    let s = app.signup(&email("bad"), "Bad").await;
    let token = s.access_token.as_str();
    let started = submit(
        &app,
        token,
        b"this is not a tar archive at all".repeat(40),
        json!({}),
    )
    .await;
    let id = started["id"].as_str().unwrap();
    let batch = wait_for_batch(&app, token, id).await;
    assert_eq!(batch["status"], "failed", "{batch}");
    assert_eq!(batch["error"]["code"], "archive_unusable", "{batch}");
    assert_eq!(batch["jobs"]["queued"], 0, "{batch}");
    // Bad requests.
    let (status, body) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": "a.zip", "size_bytes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": "a.tar", "size_bytes": 51u64 << 30}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Over the 5 GiB one PUT takes: in parts.
    let (status, body) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": "a.tar", "size_bytes": 6u64 << 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{}", body["batch"]);
    assert_eq!(body["upload"]["url"], Value::Null);
    assert_eq!(
        body["upload"]["multipart"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        96
    );
    let (status, body) = app
        .post(
            "/v1/batches",
            token,
            json!({"name": "a.tar", "size_bytes": 10, "options": {"opus_kbps": 1000}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Cancelled while its children wait: none of them runs on.
    let dir = tempfile::tempdir().unwrap();
    let bytes = archive(&recordings(dir.path(), 6), None);
    let started = submit(&app, token, bytes, json!({"job": {"clips": {"count": 0}}})).await;
    let id = started["id"].as_str().unwrap();
    let (status, cancelled) = app
        .post(&format!("/v1/batches/{id}/cancel"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let (status, _) = app
        .post(&format!("/v1/batches/{id}/cancel"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Whatever had started ends cancelled (or had ended); nothing is left running.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (_, b) = app.get(&format!("/v1/batches/{id}"), token).await;
        let (_, unpack) = app
            .get(
                &format!("/v1/jobs/{}", b["unpack_job_id"].as_str().unwrap()),
                token,
            )
            .await;
        let open = b["jobs"]["queued"].as_u64().unwrap() + b["jobs"]["running"].as_u64().unwrap();
        if open == 0 && ["cancelled", "succeeded"].contains(&unpack["status"].as_str().unwrap()) {
            assert_eq!(b["status"], "cancelled", "{b}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.scratch_entries(), Vec::<String>::new());
}

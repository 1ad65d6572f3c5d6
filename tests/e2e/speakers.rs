//! The speaker library end to end, on SQLite and PostgreSQL: a voice
//! enrolled from one job is named in a later job and a voice never
//! enrolled is `unknown`; renaming, merging and deleting change past jobs'
//! names without running them again (renames at once, the rest by the
//! housekeepers' relabel round); another tenant can neither see nor match
//! the library.
//!
//! The voices are real recordings: the LibriVox reader of
//! `pocketsphinx-testdata`, John F. Kennedy (jfk.wav) and an espeak-ng
//! voice. Samples come from a job's speaker, and from an uploaded file
//! (which a job of its own enrols, refusing what is no sample). The same
//! JFK recording is in both jobs, so this checks the
//! plumbing, not the accuracy: `bash .ci/bench-speakers` measures that on
//! recordings of other sessions (docs/benchmarks.md).

use std::path::{Path, PathBuf};

use cutroom_tests::{Db, TestApp, email, media, test_data_dir};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::pipeline::JOB_LIMIT;

/// `parts` one after another with 0.7 s of silence between, as 16 kHz
/// mono WAV.
fn conversation(path: &Path, parts: &[PathBuf]) {
    let mut args: Vec<String> = vec!["-y".into(), "-loglevel".into(), "error".into()];
    for p in parts {
        args.extend(["-i".into(), p.display().to_string()]);
    }
    let mut graph = String::new();
    for i in 0..parts.len() {
        graph.push_str(&format!(
            "[{i}:a]aresample=16000,aformat=channel_layouts=mono,apad=pad_dur=0.7[a{i}];"
        ));
    }
    for i in 0..parts.len() {
        graph.push_str(&format!("[a{i}]"));
    }
    graph.push_str(&format!("concat=n={}:v=0:a=1[out]", parts.len()));
    args.extend([
        "-filter_complex".into(),
        graph,
        "-map".into(),
        "[out]".into(),
        "-c:a".into(),
        "pcm_s16le".into(),
        path.display().to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    media::ffmpeg(&refs);
}

fn librivox() -> Vec<PathBuf> {
    let dir = Path::new("/usr/share/pocketsphinx/test/data/librivox");
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run `bash .ci/setup --test`", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    wavs
}

async fn run(app: &TestApp, token: &str, file: &Path) -> String {
    let upload = app
        .upload(token, "talk.wav", "audio/wav", std::fs::read(file).unwrap())
        .await;
    let options = json!({"speakers": {"max_speakers": 2}, "clips": {"count": 0}});
    let (status, job) = app
        .post(
            &format!("/v1/uploads/{upload}/complete"),
            token,
            json!({"options": options}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = app.wait_for_job(token, &id, JOB_LIMIT).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    id
}

async fn speakers_of(app: &TestApp, token: &str, job: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/v1/jobs/{job}/speakers"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["speakers"].as_array().unwrap().clone()
}

/// The label of the speaker who speaks in `[from, to)` seconds.
async fn label_at(app: &TestApp, token: &str, job: &str, from: f64, to: f64) -> String {
    let (_, t) = app.get(&format!("/v1/jobs/{job}/transcript"), token).await;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in t["segments"].as_array().unwrap() {
        let (a, b) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
        if a >= from && b <= to {
            let l = s["speaker"].as_str().unwrap().to_owned();
            match counts.iter_mut().find(|(x, _)| *x == l) {
                Some((_, n)) => *n += 1,
                None => counts.push((l, 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .first()
        .unwrap_or_else(|| panic!("no segment in {from}-{to}: {t}"))
        .0
        .clone()
}

/// Waits until the housekeepers' relabel round has named the tenant's
/// past jobs after the last change to its library.
async fn settled(app: &TestApp, token: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, list) = app.get("/v1/speakers", token).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if list["relabelling"] == false {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "past jobs were not named again within a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn named<'a>(speakers: &'a [Value], label: &str) -> &'a Value {
    speakers
        .iter()
        .find(|s| s["label"] == label)
        .unwrap_or_else(|| panic!("no {label} in {speakers:?}"))
}

async fn library(db: Db) {
    let app = TestApp::start(db).await;
    let s = app.signup(&email("voices"), "Voices").await;
    let token = &s.access_token;
    let dir = tempfile::tempdir().unwrap();
    let jfk = test_data_dir().join("jfk.wav");
    let reader = librivox();
    let espeak = dir.path().join("espeak.wav");
    media::espeak(
        &espeak,
        "en-us",
        "The weather today is quite different from what we expected. I think we should \
         look at the numbers again before we decide. That is a fair point, and I agree.",
    );
    let reader_seconds: f64 = reader[..3].iter().map(|p| media::duration(p) + 0.7).sum();
    let espeak_seconds = media::duration(&espeak) + 0.7;

    // Job 1: the reader, then Kennedy.
    let first = dir.path().join("first.wav");
    conversation(
        &first,
        &[
            reader[0].clone(),
            reader[1].clone(),
            reader[2].clone(),
            jfk.clone(),
        ],
    );
    let job1 = run(&app, token, &first).await;
    let kennedy1 = label_at(&app, token, &job1, reader_seconds, 1e9).await;
    let before = speakers_of(&app, token, &job1).await;
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(
        before.iter().all(|s| s["name"].is_null()),
        "an empty library names nobody"
    );

    // Enrol Kennedy from job 1's label; a sample too short is refused.
    let (status, jfk_speaker) = app
        .post(
            "/v1/speakers",
            token,
            json!({"name": "John F. Kennedy", "consent": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{jfk_speaker}");
    let jfk_id = jfk_speaker["id"].as_str().unwrap().to_owned();
    let (status, refused) = app
        .post(
            &format!("/v1/speakers/{jfk_id}/samples"),
            token,
            json!({"job_id": job1, "ranges": [[reader_seconds, reader_seconds + 2.0]]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "sample_too_short");
    let (status, sample) = app
        .post(
            &format!("/v1/speakers/{jfk_id}/samples"),
            token,
            json!({"job_id": job1, "speaker": kennedy1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sample}");
    assert_eq!(sample["source"], "job_speaker");
    assert!(sample["seconds"].as_f64().unwrap() >= 5.0, "{sample}");
    let after = speakers_of(&app, token, &job1).await;
    assert_eq!(named(&after, &kennedy1)["name"], "John F. Kennedy");
    assert_eq!(named(&after, &kennedy1)["named_by"], "enrolment");

    // Job 2: the espeak voice, then Kennedy: he is named by his voice,
    // the other voice is unknown.
    let second = dir.path().join("second.wav");
    conversation(&second, &[espeak.clone(), jfk.clone()]);
    let job2 = run(&app, token, &second).await;
    let kennedy2 = label_at(&app, token, &job2, espeak_seconds, 1e9).await;
    let other2 = label_at(&app, token, &job2, 0.0, espeak_seconds - 0.7).await;
    assert_ne!(kennedy2, other2);
    let two = speakers_of(&app, token, &job2).await;
    let k = named(&two, &kennedy2);
    assert_eq!(k["name"], "John F. Kennedy", "{two:?}");
    assert_eq!(k["named_by"], "voice");
    assert!(k["confidence"].as_f64().unwrap() > 0.5, "{k}");
    assert!(named(&two, &other2)["name"].is_null(), "{two:?}");
    let report = crate::pipeline::fetch_output(
        &app,
        &app.get(&format!("/v1/jobs/{job2}"), token).await.1,
        "speakers.json",
    )
    .await;
    let report: Value = serde_json::from_slice(&report).unwrap();
    let in_report = report["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == kennedy2.as_str())
        .unwrap();
    assert_eq!(in_report["name"], "John F. Kennedy", "{report}");

    // Names in the transcript, its captions and search.
    let (_, t) = app.get(&format!("/v1/jobs/{job2}/transcript"), token).await;
    assert_eq!(t["speaker_names"][&kennedy2], "John F. Kennedy", "{t}");
    let (status, vtt) = app
        .get(
            &format!("/v1/jobs/{job2}/transcript/captions?format=vtt"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{vtt}");
    let srt = vtt["_text"].as_str().unwrap();
    assert!(srt.starts_with("WEBVTT"), "{srt}");
    assert!(srt.contains("[John F. Kennedy]"), "{srt}");
    assert!(srt.contains(&format!("[{other2}]")), "{srt}");
    let (status, hits) = app
        .get(&format!("/v1/search?speaker={jfk_id}&q=country"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let hits = hits["results"].as_array().unwrap();
    let jobs: std::collections::BTreeSet<&str> =
        hits.iter().map(|h| h["job_id"].as_str().unwrap()).collect();
    assert_eq!(
        jobs,
        [job1.as_str(), job2.as_str()].into_iter().collect(),
        "{hits:?}"
    );
    assert!(hits.iter().all(|h| h["speaker_name"] == "John F. Kennedy"));

    // Rename: past jobs show the new name.
    let (status, _) = app
        .patch(
            &format!("/v1/speakers/{jfk_id}"),
            token,
            json!({"name": "JFK"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        named(&speakers_of(&app, token, &job2).await, &kennedy2)["name"],
        "JFK"
    );

    // Merge a duplicate enrolment of him into a new speaker: both jobs
    // follow.
    let (_, dup) = app
        .post("/v1/speakers", token, json!({"name": "President Kennedy"}))
        .await;
    let dup_id = dup["id"].as_str().unwrap().to_owned();
    let (status, merged) = app
        .post(
            &format!("/v1/speakers/{dup_id}/merge"),
            token,
            json!({"from": jfk_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["samples"], 1);
    assert_eq!(merged["jobs"], 2);
    settled(&app, token).await;
    for (job, label) in [(&job1, &kennedy1), (&job2, &kennedy2)] {
        let sp = speakers_of(&app, token, job).await;
        assert_eq!(named(&sp, label)["name"], "President Kennedy", "{sp:?}");
    }
    let (status, _) = app.get(&format!("/v1/speakers/{jfk_id}"), token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the merged speaker is gone");

    // Another tenant sees none of it and matches nothing against it.
    let other = app.signup(&email("voices-other"), "Elsewhere").await;
    let ot = &other.access_token;
    for path in [
        format!("/v1/speakers/{dup_id}"),
        format!("/v1/speakers/{dup_id}/samples"),
        format!("/v1/jobs/{job2}/speakers"),
    ] {
        let (status, body) = app.get(&path, ot).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list) = app.get("/v1/speakers", ot).await;
    assert_eq!(list["items"], json!([]));
    let (status, _) = app
        .post(
            &format!("/v1/speakers/{dup_id}/samples"),
            ot,
            json!({"job_id": job1, "speaker": kennedy1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, mine) = app.post("/v1/speakers", ot, json!({"name": "Mine"})).await;
    let mine_id = mine["id"].as_str().unwrap();
    for (path, body) in [
        (
            format!("/v1/speakers/{mine_id}/samples"),
            json!({"job_id": job1, "speaker": kennedy1}),
        ),
        (
            format!("/v1/speakers/{mine_id}/merge"),
            json!({"from": dup_id}),
        ),
    ] {
        let (status, res) = app.post(&path, ot, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {res}");
    }
    for path in [
        format!("/v1/speakers/{dup_id}"),
        format!(
            "/v1/speakers/{dup_id}/samples/{}",
            sample["id"].as_str().unwrap()
        ),
    ] {
        let (status, _) = app.delete(&path, ot).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app
        .patch(&format!("/v1/speakers/{dup_id}"), ot, json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/v1/search?speaker={dup_id}"), ot).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other_job = run(&app, ot, &second).await;
    let theirs = speakers_of(&app, ot, &other_job).await;
    assert!(theirs.iter().all(|s| s["name"].is_null()), "{theirs:?}");

    // Deleting the speaker removes their voiceprint: job 2's Kennedy
    // becomes unknown again; job 1's enrolled label too.
    let (status, _) = app.delete(&format!("/v1/speakers/{dup_id}"), token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    settled(&app, token).await;
    for job in [&job1, &job2] {
        let sp = speakers_of(&app, token, job).await;
        assert!(
            sp.iter()
                .all(|s| s["name"].is_null() && s["speaker_id"].is_null()),
            "{sp:?}"
        );
    }
    // Deleting a job removes its voiceprints and the samples taken from
    // it, and the jobs those samples named become unknown.
    let (_, again) = app
        .post("/v1/speakers", token, json!({"name": "JFK again"}))
        .await;
    let again_id = again["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/speakers/{again_id}/samples"),
            token,
            json!({"job_id": job1, "speaker": kennedy1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Job 1's speaker is named at once; job 2's by the relabel round.
    assert_eq!(
        named(&speakers_of(&app, token, &job1).await, &kennedy1)["name"],
        "JFK again"
    );
    settled(&app, token).await;
    let two = speakers_of(&app, token, &job2).await;
    assert_eq!(named(&two, &kennedy2)["name"], "JFK again", "{two:?}");
    let (status, _) = app.delete(&format!("/v1/jobs/{job1}"), token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    settled(&app, token).await;
    let (_, samples) = app
        .get(&format!("/v1/speakers/{again_id}/samples"), token)
        .await;
    assert_eq!(samples["items"], json!([]), "the sample went with its job");
    let two = speakers_of(&app, token, &job2).await;
    assert!(named(&two, &kennedy2)["name"].is_null(), "{two:?}");
    let (status, _) = app.get(&format!("/v1/jobs/{job1}/speakers"), token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An uploaded recording of him enrols him again: job 2 names him.
    let enrolled = enrol_upload(&app, token, again_id, &jfk).await;
    assert_eq!(enrolled["status"], "succeeded", "{enrolled}");
    let (_, samples) = app
        .get(&format!("/v1/speakers/{again_id}/samples"), token)
        .await;
    let items = samples["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{samples}");
    assert_eq!(items[0]["source"], "upload");
    assert_eq!(items[0]["job_id"], enrolled["id"]);
    settled(&app, token).await;
    let two = speakers_of(&app, token, &job2).await;
    assert_eq!(named(&two, &kennedy2)["name"], "JFK again", "{two:?}");

    // Recordings that are no sample fail with the reason's code, and add
    // nothing.
    let short = dir.path().join("short.wav");
    media::ffmpeg(&[
        "-y",
        "-loglevel",
        "error",
        "-i",
        &jfk.display().to_string(),
        "-t",
        "3",
        &short.display().to_string(),
    ]);
    let long = dir.path().join("long.wav");
    media::ffmpeg(&[
        "-y",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=d=140:c=pink:a=0.02:r=16000",
        &long.display().to_string(),
    ]);
    for (file, code) in [
        (&short, "sample_too_short"),
        (&long, "sample_too_long"),
        (&second, "several_speakers"),
    ] {
        let job = enrol_upload(&app, token, again_id, file).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], code, "{job}");
    }
    let (_, samples) = app
        .get(&format!("/v1/speakers/{again_id}/samples"), token)
        .await;
    assert_eq!(samples["items"].as_array().unwrap().len(), 1, "{samples}");
    // An upload and a job are one or the other.
    let upload = app
        .upload(token, "x.wav", "audio/wav", std::fs::read(&jfk).unwrap())
        .await;
    let (status, body) = app
        .post(
            &format!("/v1/speakers/{again_id}/samples"),
            token,
            json!({"upload_id": upload, "job_id": job2, "speaker": kennedy2}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Another tenant's upload is not found, nor may they enrol into ours.
    let (status, body) = app
        .post(
            &format!("/v1/speakers/{mine_id}/samples"),
            ot,
            json!({"upload_id": upload}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// Uploads `file` as a voice sample of `speaker`; the enrolling job, ended.
async fn enrol_upload(app: &TestApp, token: &str, speaker: &str, file: &Path) -> Value {
    let upload = app
        .upload(
            token,
            "sample.wav",
            "audio/wav",
            std::fs::read(file).unwrap(),
        )
        .await;
    let (status, job) = app
        .post(
            &format!("/v1/speakers/{speaker}/samples"),
            token,
            json!({"upload_id": upload}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["enrols_speaker_id"], speaker, "{job}");
    app.wait_for_job(token, job["id"].as_str().unwrap(), JOB_LIMIT)
        .await
}

cutroom_tests::both_dbs!(library_names_voices_across_jobs, super::library);

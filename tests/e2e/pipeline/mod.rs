//! Jobs through the whole pipeline: fetch once (yt-dlp from a loopback
//! server, or an upload from storage), probe, decode, voice activity,
//! transcription, outputs in storage, original deleted, scratch removed.

mod cancellation;
mod failures;
mod from_link;
mod from_upload;

use std::time::Duration;

use cutroom_tests::TestApp;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

const GAPS: [(f64, f64); 2] = [(2.0, 3.5), (6.0, 7.0)];
pub(crate) const JOB_LIMIT: Duration = Duration::from_secs(120);

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

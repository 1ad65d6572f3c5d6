//! Contract tests: each engine's client against the stand-in
//! ([`crate::speech_standin`]), which checks the request as the provider
//! documents it and answers with the provider's documented bodies.

use std::{collections::BTreeSet, time::Duration};

use cutroom_core::speech::{Engine, ResolvedSpeech};
use secrecy::SecretString;

use super::{CloudClient, CloudError, Heard, segments, track};
use crate::speech_standin::{Api, Fault, StandIn};

const KEY: &str = "test-key-0123";
const WORDS: &[(&str, f64, f64)] = &[
    ("Hello,", 0.10, 0.42),
    ("my", 0.50, 0.61),
    ("friends.", 0.64, 1.10),
    ("We", 1.70, 1.81),
    ("begin.", 1.85, 2.30),
];

fn ogg() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<f32> = (0..16_000 * 2)
        .map(|i| (i as f32 * 0.05).sin() * 0.2)
        .collect();
    track::encode(&samples, &dir.path().join("t.ogg")).unwrap()
}

fn client(standin: &StandIn, engine: Engine, key: &str) -> CloudClient {
    let host = standin.base_url.trim_start_matches("http://").to_owned();
    let endpoint = ResolvedSpeech {
        engine,
        base_url: standin.base_url.clone(),
        model: engine.default_model().unwrap().to_owned(),
        api_key: SecretString::from(key.to_owned()),
        price_per_minute: 0.01,
        timeout_seconds: 2,
    };
    let mut c = CloudClient::new(endpoint, BTreeSet::from([host]));
    c.backoff = Duration::from_millis(10);
    c.poll = Duration::from_millis(10);
    c
}

fn api(engine: Engine) -> Api {
    match engine {
        Engine::Deepgram => Api::Deepgram,
        Engine::Assemblyai => Api::Assemblyai,
        _ => Api::Openai,
    }
}

fn words(heard: &Heard) -> Vec<&str> {
    heard.words.iter().map(|w| w.text.as_str()).collect()
}

#[tokio::test]
async fn each_engine_sends_the_documented_request_and_reads_the_documented_reply() {
    let audio = ogg();
    for engine in Engine::CLOUD {
        let standin = StandIn::start(KEY, WORDS).await;
        let out = client(&standin, engine, KEY).transcribe(&audio, None).await;
        let heard = out.result.unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        // Punctuation is kept (OpenAI's bare words take their segment's
        // tokens), times are seconds, the language is ISO 639-1.
        assert_eq!(
            words(&heard),
            ["Hello,", "my", "friends.", "We", "begin."],
            "{engine:?}"
        );
        assert!((heard.words[2].end - 1.10).abs() < 1e-6, "{engine:?}");
        assert_eq!(heard.language.as_deref(), Some("en"), "{engine:?}");
        assert!(!heard.phrases.is_empty(), "{engine:?}");
        let seen = standin.seen();
        for s in &seen {
            assert!(
                s.problems.is_empty(),
                "{engine:?} {}: {:?}",
                s.path,
                s.problems
            );
            assert_eq!(s.api, api(engine));
        }
        match engine {
            Engine::Deepgram => {
                assert_eq!(seen.len(), 1);
                assert_eq!(out.requests, 1);
                assert_eq!(seen[0].query["model"], "nova-3");
                assert_eq!(seen[0].query["detect_language"], "true");
                assert_eq!(seen[0].audio_bytes, audio.len());
            }
            Engine::Assemblyai => {
                let calls: Vec<_> = seen.iter().map(|s| (s.method, s.path.as_str())).collect();
                assert_eq!(calls[0], ("POST", "/v2/upload"));
                assert_eq!(calls[1], ("POST", "/v2/transcript"));
                assert!(calls[2..calls.len() - 1].iter().all(|(m, _)| *m == "GET"));
                assert!(calls.len() >= 4, "{calls:?}");
                assert_eq!(
                    calls.last().unwrap().0,
                    "DELETE",
                    "the transcript is deleted"
                );
                assert_eq!(out.requests as usize, calls.len());
                assert_eq!(seen[0].audio_bytes, audio.len());
            }
            _ => {
                assert_eq!(seen.len(), 1);
                let fields = &seen[0].fields;
                assert!(fields.contains(&("model".into(), "whisper-1".into())));
                assert!(fields.iter().all(|(k, _)| k != "language"));
                assert_eq!(seen[0].audio_bytes, audio.len());
            }
        }
    }
}

#[tokio::test]
async fn a_language_is_sent_when_the_job_names_one() {
    let audio = ogg();
    for engine in Engine::CLOUD {
        let standin = StandIn::start(KEY, WORDS).await;
        let out = client(&standin, engine, KEY)
            .transcribe(&audio, Some("de"))
            .await;
        assert!(out.result.is_ok(), "{engine:?}");
        let first = &standin.seen()[match engine {
            Engine::Assemblyai => 1,
            _ => 0,
        }];
        let sent = first.query.get("language").cloned().or_else(|| {
            first
                .fields
                .iter()
                .find(|(k, _)| k == "language" || k == "language_code")
                .map(|(_, v)| v.trim_matches('"').to_owned())
        });
        assert_eq!(sent.as_deref(), Some("de"), "{engine:?}");
    }
}

#[tokio::test]
async fn errors_are_classified_and_only_passing_ones_retried() {
    let audio = ogg();
    for engine in Engine::CLOUD {
        // A refused key: one request, never again.
        let standin = StandIn::start(KEY, WORDS).await;
        let out = client(&standin, engine, "wrong-key")
            .transcribe(&audio, None)
            .await;
        assert!(
            matches!(out.result, Err(CloudError::KeyRefused(401))),
            "{engine:?}"
        );
        assert_eq!(out.requests, 1, "{engine:?}");
        assert_eq!(
            out.result.unwrap_err().code(),
            cutroom_core::ErrorCode::EngineKeyRefused
        );

        for (fault, expect) in [
            (Fault::Status(403, None), "key_refused"),
            (Fault::Status(402, None), "quota"),
            (
                Fault::QuotaUsedUp,
                if engine == Engine::Openai {
                    "quota"
                } else {
                    "rate_limited"
                },
            ),
            (Fault::Status(413, None), "too_large"),
            (Fault::Status(400, None), "refused"),
            (Fault::Malformed, "malformed"),
        ] {
            let standin = StandIn::start(KEY, WORDS).await;
            // Queued three times: a class that is retried fails all three.
            standin.fail_next([fault.clone(), fault.clone(), fault.clone()]);
            let out = client(&standin, engine, KEY).transcribe(&audio, None).await;
            let err = out.result.expect_err("a fault");
            assert_eq!(err.class(), expect, "{engine:?} {fault:?}: {err}");
            let tries = if err.retryable() { 3 } else { 1 };
            let first_requests = standin
                .seen()
                .iter()
                .filter(|s| s.method == "POST" && s.path != "/v2/transcript")
                .count();
            assert_eq!(first_requests, tries, "{engine:?} {fault:?}");
        }

        // 503 twice, then an answer: retried with backoff, and it succeeds.
        let standin = StandIn::start(KEY, WORDS).await;
        standin.fail_next([Fault::Status(503, None), Fault::Status(503, None)]);
        let out = client(&standin, engine, KEY).transcribe(&audio, None).await;
        assert!(out.result.is_ok(), "{engine:?}");

        // 503 three times: the engine is given up on, as unavailable.
        let standin = StandIn::start(KEY, WORDS).await;
        standin.fail_next(std::iter::repeat_n(Fault::Status(503, None), 3));
        let out = client(&standin, engine, KEY).transcribe(&audio, None).await;
        let err = out.result.expect_err("three 503s");
        assert_eq!(err.class(), "server_error");
        assert_eq!(err.code(), cutroom_core::ErrorCode::EngineUnavailable);

        // 429 with Retry-After: honoured, then it succeeds.
        let standin = StandIn::start(KEY, WORDS).await;
        standin.fail_next([Fault::Status(429, Some(1))]);
        let started = std::time::Instant::now();
        let out = client(&standin, engine, KEY).transcribe(&audio, None).await;
        assert!(out.result.is_ok(), "{engine:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn a_hang_times_out_and_a_failed_transcript_says_why() {
    let audio = ogg();
    let standin = StandIn::start(KEY, WORDS).await;
    standin.fail_next([Fault::Hang(Duration::from_secs(10))]);
    let mut c = client(&standin, Engine::Deepgram, KEY);
    c.attempts = 1;
    let out = c.transcribe(&audio, None).await;
    assert!(matches!(out.result, Err(CloudError::Timeout(_))));

    let standin = StandIn::start(KEY, WORDS).await;
    standin.fail_next([Fault::TranscriptError]);
    let out = client(&standin, Engine::Assemblyai, KEY)
        .transcribe(&audio, None)
        .await;
    let err = out.result.expect_err("a transcript in error");
    assert_eq!(err.class(), "failed");
    assert!(err.to_string().contains("status `error`"), "{err}");
    // The provider's own words are not repeated (free text from a URL
    // the tenant chose).
    assert!(!err.to_string().contains("Transcoding"), "{err}");
}

#[test]
fn words_become_segments_at_phrases_or_sentence_ends() {
    let heard = Heard {
        words: WORDS
            .iter()
            .map(|(t, s, e)| super::CloudWord {
                start: *s,
                end: *e,
                text: (*t).to_owned(),
                confidence: Some(0.9),
            })
            .collect(),
        ..Heard::default()
    };
    let by_sentence = segments(&heard);
    assert_eq!(by_sentence.len(), 2);
    assert_eq!(by_sentence[0].text, "Hello, my friends.");
    assert_eq!(by_sentence[1].text, "We begin.");
    // Phrases given: each word goes to the phrase its middle falls in,
    // none lost or doubled on the seam.
    let phrased = Heard {
        phrases: vec![(0.0, 0.6), (0.6, 2.4)],
        ..heard
    };
    let s = segments(&phrased);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].text, "Hello, my");
    assert_eq!(s[1].text, "friends. We begin.");
    assert_eq!(s.iter().map(|s| s.words.len()).sum::<usize>(), 5);
}

#[test]
fn languages_are_iso_codes() {
    assert_eq!(super::language_code("english").as_deref(), Some("en"));
    assert_eq!(super::language_code("English").as_deref(), Some("en"));
    assert_eq!(super::language_code("en-US").as_deref(), Some("en"));
    assert_eq!(
        super::language_code("haitian creole").as_deref(),
        Some("ht")
    );
    assert_eq!(super::language_code("klingon"), None);
}

fn iv(start: f64, end: f64) -> crate::pipeline::silence::Interval {
    crate::pipeline::silence::Interval { start, end }
}

fn heard(words: &[(&str, f64, f64)], phrases: Vec<(f64, f64)>) -> Heard {
    Heard {
        words: words
            .iter()
            .map(|(t, s, e)| super::CloudWord {
                start: *s,
                end: *e,
                text: (*t).to_owned(),
                confidence: Some(0.9),
            })
            .collect(),
        phrases,
        language: Some("en".into()),
        language_probability: None,
    }
}

#[test]
fn a_sentence_over_a_chunk_seam_stays_whole_with_no_word_lost_or_doubled() {
    let audio = vec![0.0f32; 16_000 * 60];
    // A sentence with a 0.6 s pause in it: the speech is 0-6 s and
    // 6.6-12 s, and with chunks of 10 s at most the pause is the seam.
    let chunks = track::Track::chunks(&audio, &[iv(0.0, 6.0), iv(6.6, 12.0)], 10.0);
    assert_eq!(chunks.len(), 2);
    // Each engine call hears its chunk alone and ends its phrase at the
    // chunk's end, mid-sentence.
    let first = heard(
        &[
            ("So", 3.5, 3.8),
            ("the", 3.9, 4.2),
            ("plan", 4.3, 5.0),
            ("is", 5.2, 5.8),
        ],
        vec![(0.0, 6.0)],
    );
    let second = heard(
        &[
            ("to", 0.1, 0.4),
            ("begin", 0.5, 1.0),
            ("today.", 1.1, 1.8),
            ("Thanks.", 3.0, 3.5),
        ],
        vec![(0.0, 6.0)],
    );
    let merged = super::merge(vec![(&chunks[0], first), (&chunks[1], second)]);
    let segments = segments(&merged);
    let texts: Vec<&str> = segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["So the plan is to begin today.", "Thanks."]);
    let words: Vec<(f64, f64)> = segments
        .iter()
        .flat_map(|s| s.words.iter().map(|w| (w.start, w.end)))
        .collect();
    assert_eq!(words.len(), 8);
    // On the source's timeline, in order: the second chunk's words from
    // 6.6 s on.
    assert!((words[4].0 - 6.7).abs() < 1e-9, "{words:?}");
    assert!(words.windows(2).all(|w| w[0].0 <= w[1].0), "{words:?}");
}

#[tokio::test]
async fn every_chunk_of_a_long_recording_is_sent_once_and_heard_in_order() {
    let audio = vec![0.05f32; 16_000 * 40];
    let chunks = track::Track::chunks(&audio, &[iv(0.0, 8.0), iv(12.0, 20.0), iv(25.0, 33.0)], 9.0);
    assert_eq!(chunks.len(), 3);
    let standin = StandIn::start(KEY, WORDS).await;
    let c = client(&standin, Engine::Deepgram, KEY);
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let ogg = track::encode(&chunk.samples, &dir.path().join(format!("{i}.ogg"))).unwrap();
        parts.push((chunk, c.transcribe(&ogg, None).await.result.unwrap()));
    }
    assert_eq!(standin.seen().len(), 3);
    let merged = super::merge(parts);
    // The stand-in answers the same five words for each chunk: fifteen,
    // each chunk's inside its own speech.
    assert_eq!(merged.words.len(), 15);
    for (i, start) in [0.0, 12.0, 25.0].into_iter().enumerate() {
        let mine = &merged.words[i * 5..(i + 1) * 5];
        assert!(
            mine.iter()
                .all(|w| w.start >= start && w.end <= start + 8.0),
            "{mine:?}"
        );
    }
    assert!(
        merged.phrases.is_empty(),
        "phrases end at seams, not sentences"
    );
}

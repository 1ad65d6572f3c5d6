//! Tests of [`super`]: keys, endpoints, prices and the cost sentence.

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::*;

#[test]
fn keys_are_sealed_resolved_and_follow_their_url() {
    let sealer = Sealer::new(&SecretString::from("k".repeat(32)));
    let tenant = Uuid::now_v7();
    let mut set: SpeechEndpoints =
        serde_json::from_str(r#"{"deepgram": {"api_key": "dg-secret-1234"}}"#).unwrap();
    set.validate("transcription.cloud").unwrap();
    set.seal_keys(&SpeechEndpoints::default(), &sealer, tenant)
        .unwrap();
    assert_eq!(set.configured(), vec![Engine::Deepgram]);
    assert_eq!(set.deepgram.api_key_hint.as_deref(), Some("…1234"));
    let resolved = set.resolve(Engine::Deepgram, &sealer, tenant).unwrap();
    assert_eq!(resolved.api_key.expose_secret(), "dg-secret-1234");
    assert_eq!(resolved.base_url, "https://api.deepgram.com");
    assert_eq!(resolved.model, "nova-3");
    assert!((resolved.price_per_minute - 0.0043).abs() < 1e-12);
    // Moving the URL without the key again is refused.
    let mut moved = set.clone();
    moved.deepgram.base_url = Some("https://example.com".into());
    assert!(matches!(
        moved.seal_keys(&set, &sealer, tenant),
        Err(KeyError::Required(_))
    ));
    let err = set.resolve(Engine::Openai, &sealer, tenant).unwrap_err();
    assert!(err.contains("transcription.cloud.openai.api_key"), "{err}");
    let mut shown = set.clone();
    shown.redact();
    assert!(!serde_json::to_string(&shown).unwrap().contains("sealed"));
}

#[test]
fn bad_endpoints_are_refused_by_field() {
    for (json, says) in [
        (r#"{"openai": {"base_url": "ftp://x"}}"#, "openai.base_url"),
        (
            r#"{"deepgram": {"price_per_minute": -1}}"#,
            "price_per_minute",
        ),
        (r#"{"assemblyai": {"model": "a/../x"}}"#, "assemblyai.model"),
        (r#"{"openai": {"timeout_seconds": 1}}"#, "timeout_seconds"),
    ] {
        let set: SpeechEndpoints = serde_json::from_str(json).unwrap();
        let err = set.validate("transcription.cloud").unwrap_err();
        assert!(err.contains(says), "{json}: {err}");
    }
    let private = BTreeSet::new();
    let internal: SpeechEndpoints =
        serde_json::from_str(r#"{"openai": {"base_url": "http://127.0.0.1:9"}}"#).unwrap();
    assert!(internal.check_endpoints(None, &private).is_err());
    let own: SpeechEndpoints =
        serde_json::from_str(r#"{"openai": {"base_url": "https://api.openai.com/"}}"#).unwrap();
    let only = BTreeSet::from(["llm.example".to_owned()]);
    assert!(own.check_endpoints(Some(&only), &private).is_ok());
}

#[test]
fn a_jobs_cost_reads_as_a_sentence() {
    let attempt = |engine, outcome: &str, seconds| EngineAttempt {
        engine,
        model: "tiny.en".into(),
        outcome: outcome.into(),
        error: None,
        requests: 0,
        seconds,
        cost_usd: 0.0,
    };
    let mut route = RouteReport {
        requested: EngineChoice::Auto,
        tier: Tier::Balanced,
        speech_seconds: 30.0,
        budget_left_usd: None,
        considered: Vec::new(),
        chosen: Engine::Local,
        model: "tiny.en".into(),
        reason: String::new(),
        estimated_cost_usd: 0.0,
        actual_cost_usd: 0.0,
        attempts: vec![attempt(Engine::Local, "ok", 31.2)],
    };
    assert_eq!(
        summary(0.0042, Some(&route)),
        "this job cost $0.0042 (local tiny.en, 31 s of CPU)"
    );
    route
        .attempts
        .insert(0, attempt(Engine::Deepgram, "server_error", 2.0));
    assert!(summary(0.0042, Some(&route)).ends_with("after 1 engine failed)"));
    assert_eq!(summary(0.5, None), "this job cost $0.5000");
}

#[test]
fn list_prices_fall_back_to_the_engines_first() {
    assert_eq!(list_price(Engine::Local, "base"), None);
    assert_eq!(list_price(Engine::Openai, "whisper-1"), Some(0.006));
    assert_eq!(list_price(Engine::Openai, "some-new-model"), Some(0.006));
    assert!(list_price(Engine::Openai, "whisper-large-v3-turbo").unwrap() < 0.001);
}

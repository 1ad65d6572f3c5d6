//! Parsing of the `CUTROOM_*` variables: what is accepted, what is refused
//! with which message, and the generated secret key.

use super::*;
use std::collections::HashMap;

fn parse(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| m.get(k).cloned())
}

#[test]
fn s3_needs_its_settings() {
    let secret = "x".repeat(32);
    let err = parse(&[("CUTROOM_SECRET_KEY", &secret), ("CUTROOM_STORAGE", "s3")]).unwrap_err();
    assert!(err.to_string().contains("CUTROOM_S3_BUCKET"), "{err}");
    let s3 = [
        ("CUTROOM_SECRET_KEY", secret.as_str()),
        ("CUTROOM_STORAGE", "s3"),
        ("CUTROOM_S3_BUCKET", "b"),
        ("CUTROOM_S3_ACCESS_KEY_ID", "k"),
        ("CUTROOM_S3_SECRET_ACCESS_KEY", "s"),
    ];
    let StorageConfig::S3(c) = parse(&s3).unwrap().storage else {
        panic!("not s3")
    };
    assert_eq!(
        (c.part_size, c.max_attempts),
        (16 << 20, S3Config::DEFAULT_MAX_ATTEMPTS)
    );
    let tuned = [
        &s3[..],
        &[
            ("CUTROOM_S3_PART_SIZE_MB", "64"),
            ("CUTROOM_S3_MAX_ATTEMPTS", "2"),
        ],
    ]
    .concat();
    let StorageConfig::S3(c) = parse(&tuned).unwrap().storage else {
        panic!("not s3")
    };
    assert_eq!((c.part_size, c.max_attempts), (64 << 20, 2));
    // Below S3's smallest part, or no tries at all: refused.
    for bad in [
        ("CUTROOM_S3_PART_SIZE_MB", "4"),
        ("CUTROOM_S3_MAX_ATTEMPTS", "0"),
    ] {
        let err = parse(&[&s3[..], &[bad]].concat()).unwrap_err();
        assert!(err.to_string().contains(bad.0), "{err}");
    }
}

#[test]
fn rejects_bad_values_instead_of_defaulting() {
    let secret = "x".repeat(32);
    assert!(parse(&[("CUTROOM_SECRET_KEY", &secret), ("CUTROOM_LISTEN", "nope")]).is_err());
    assert!(
        parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_IN_PROCESS_WORKER", "maybe")
        ])
        .is_err()
    );
    assert!(parse(&[("CUTROOM_SECRET_KEY", "short")]).is_err());
    let c = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_LISTEN", "127.0.0.1:9000"),
        ("CUTROOM_EXTRA_SOURCE_HOSTS", "127.0.0.1:8000, Example.org"),
    ])
    .unwrap();
    assert_eq!(c.public_url, "http://127.0.0.1:9000");
    assert!(c.extra_source_hosts.contains("example.org"));
    assert_eq!(c.llm_hosts, None);
    assert_eq!(c.max_source_height, 1080);
    let tall = [
        ("CUTROOM_SECRET_KEY", &secret[..]),
        ("CUTROOM_MAX_SOURCE_HEIGHT", "720"),
    ];
    assert_eq!(parse(&tall).unwrap().max_source_height, 720);
    for bad in ["0", "100", "8000", "tall"] {
        let err = parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_MAX_SOURCE_HEIGHT", bad),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("CUTROOM_MAX_SOURCE_HEIGHT"),
            "{err}"
        );
    }
    let c = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_LLM_HOSTS", "llama:8080, API.openai.com"),
    ])
    .unwrap();
    let hosts = c.llm_hosts.unwrap();
    assert!(hosts.contains("llama:8080") && hosts.contains("api.openai.com"));
    assert!(c.llm_private_hosts.is_empty());
    assert_eq!(c.analysis_deadline, Duration::from_secs(30));
    let c = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_LLM_PRIVATE_HOSTS", "llama:8080"),
        ("CUTROOM_ANALYSIS_DEADLINE_SECS", "45"),
    ])
    .unwrap();
    assert!(c.llm_private_hosts.contains("llama:8080"));
    assert_eq!(c.analysis_deadline, Duration::from_secs(45));
    for bad in ["0", "soon"] {
        let vars = [
            ("CUTROOM_SECRET_KEY", secret.as_str()),
            ("CUTROOM_ANALYSIS_DEADLINE_SECS", bad),
        ];
        assert!(parse(&vars).is_err(), "{bad}");
    }
    for bad in ["-1", "lots", "60000001"] {
        let vars = [
            ("CUTROOM_SECRET_KEY", secret.as_str()),
            ("CUTROOM_MONTHLY_MEDIA_MINUTES", bad),
        ];
        assert!(parse(&vars).is_err(), "{bad}");
    }
    let quota = |v: &str| {
        parse(&[
            ("CUTROOM_SECRET_KEY", &secret),
            ("CUTROOM_MONTHLY_MEDIA_MINUTES", v),
        ])
        .unwrap()
        .monthly_media_minutes
    };
    assert_eq!(quota("600"), Some(600));
    let limits = |vars: &[(&str, &str)]| {
        let mut all = vec![("CUTROOM_SECRET_KEY", secret.as_str())];
        all.extend_from_slice(vars);
        parse(&all).map(|c| c.media_limits)
    };
    assert_eq!(limits(&[]).unwrap(), MediaLimits::default());
    let tuned = limits(&[
        ("CUTROOM_MAX_VIDEO_DIMENSION", "4096"),
        ("CUTROOM_MAX_VIDEO_PIXELS", "8847360"),
        ("CUTROOM_MAX_FRAME_RATE", "60"),
        ("CUTROOM_MAX_STREAMS", "4"),
    ])
    .unwrap();
    assert_eq!(
        tuned,
        MediaLimits {
            max_dimension: 4096,
            max_pixels: 8_847_360,
            max_frame_rate: 60,
            max_streams: 4
        }
    );
    // Past what decoders may allocate, zero, or not a number: refused.
    for bad in [
        ("CUTROOM_MAX_VIDEO_PIXELS", "67108865"),
        ("CUTROOM_MAX_FRAME_RATE", "0"),
        ("CUTROOM_MAX_STREAMS", "many"),
    ] {
        let err = limits(&[bad]).unwrap_err();
        assert!(err.to_string().contains(bad.0), "{err}");
    }
    assert_eq!(quota("0"), Some(0));
    // What compose passes when the variable is unset.
    assert_eq!(quota(""), None);
}

#[test]
fn whisper_quant_defaults_to_q8_0() {
    let secret = "x".repeat(32);
    let c = parse(&[("CUTROOM_SECRET_KEY", &secret)]).unwrap();
    assert_eq!(c.whisper_quant, WhisperQuant::Q8_0);
    let c = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_WHISPER_QUANT", "f16"),
    ])
    .unwrap();
    assert_eq!(c.whisper_quant, WhisperQuant::F16);
    let err = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_WHISPER_QUANT", "q4"),
    ])
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("expected f16 or q8_0"),
        "{err:#}"
    );
}

/// An empty `secret.key` was taken as the key, so anyone could sign
/// access tokens and storage URLs.
#[test]
fn refuses_an_empty_or_short_secret_file() {
    for weak in ["", "\n", "0123456789abcdef"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.key"), weak).unwrap();
        let data = dir.path().to_str().unwrap();
        let err = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("secret.key") && err.contains("32"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let made = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap();
    let again = parse(&[("CUTROOM_DATA_DIR", data)]).unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(made.secret_key.expose_secret().len(), 64);
    assert_eq!(
        made.secret_key.expose_secret(),
        again.secret_key.expose_secret()
    );
}

#[test]
fn speaker_model_defaults_to_campplus_and_refuses_unknown_names() {
    let secret = "x".repeat(32);
    let c = parse(&[("CUTROOM_SECRET_KEY", &secret)]).unwrap();
    assert_eq!(c.speaker_model, SpeakerModel::CamPlus);
    let c = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_SPEAKER_MODEL", "dvector"),
    ])
    .unwrap();
    assert_eq!(c.speaker_model, SpeakerModel::DVector);
    let err = parse(&[
        ("CUTROOM_SECRET_KEY", &secret),
        ("CUTROOM_SPEAKER_MODEL", "ecapa"),
    ])
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("expected campplus or dvector"),
        "{err:#}"
    );
}

#[test]
fn queue_poll_and_prefetch_are_bounded() {
    let secret = "x".repeat(32);
    let with = |k: &'static str, v: &'static str| {
        let secret = secret.clone();
        move || parse(&[("CUTROOM_SECRET_KEY", secret.as_str()), (k, v)])
    };
    let c = parse(&[("CUTROOM_SECRET_KEY", &secret)]).unwrap();
    assert_eq!(c.queue_poll, None, "each database's own default");
    assert_eq!(c.worker_prefetch, 0);
    let c = with("CUTROOM_QUEUE_POLL_MS", "250")().unwrap();
    assert_eq!(c.queue_poll, Some(Duration::from_millis(250)));
    let c = with("CUTROOM_WORKER_PREFETCH", "1")().unwrap();
    assert_eq!(c.worker_prefetch, 1);
    for (k, v) in [
        ("CUTROOM_QUEUE_POLL_MS", "0"),
        ("CUTROOM_QUEUE_POLL_MS", "soon"),
        ("CUTROOM_WORKER_PREFETCH", "2"),
    ] {
        let err = with(k, v)().unwrap_err();
        assert!(err.to_string().contains(k), "{err}");
    }
}

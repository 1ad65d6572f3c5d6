//! Webhooks as the Standard Webhooks specification has them
//! (<https://www.standardwebhooks.com/>): every message carries
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, the last being
//! `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the
//! endpoint's secret (`whsec_` and the base64 key). Receivers verify with
//! any of the specification's libraries.
//!
//! A message is delivered at least once: it is retried on the
//! [`RETRY_SCHEDULE`] (about a day) until an attempt gets a 2xx answer.
//! This module holds what the API (which sends) and the worker (whose
//! events cause messages) share: event types, payloads, signatures, the
//! schedule and the address guard.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use url::Url;
use uuid::Uuid;

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 7] = [
    "job.created",
    "job.stage_completed",
    "job.succeeded",
    "job.failed",
    "job.cancelled",
    "moderation.flagged",
    "clips.ready",
];

/// Delays before each attempt, counted from the previous one: eight
/// attempts over about 27 hours (the schedule Svix documents for its
/// Standard Webhooks service). Delays from 5 minutes on get up to 10 %
/// jitter so a receiver that comes back is not hit by every message at once.
pub const RETRY_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The webhook event a job event causes, if any. `kind` and `message` are
/// those of `job_events`.
pub fn event_type(kind: &str, message: Option<&str>) -> Option<&'static str> {
    match (kind, message) {
        ("status", Some("queued")) => Some("job.created"),
        ("status", Some("succeeded")) => Some("job.succeeded"),
        ("status", Some("failed")) => Some("job.failed"),
        ("status", Some("cancelled")) => Some("job.cancelled"),
        ("stage_completed", _) => Some("job.stage_completed"),
        ("moderation_flagged", _) => Some("moderation.flagged"),
        ("clips_ready", _) => Some("clips.ready"),
        _ => None,
    }
}

/// The body of every message: `{type, timestamp, data}` as the
/// specification recommends.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub timestamp: DateTime<Utc>,
    pub data: PayloadData<'a>,
}

#[derive(Debug, Serialize)]
pub struct PayloadData<'a> {
    pub job_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'a str>,
    /// The job event's own data (a failure's code, a stage's time, the
    /// flag or clip counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a Value>,
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(key))
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the webhook secret is not `whsec_` followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` header's value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let key = secret.strip_prefix("whsec_").ok_or(BadSecret)?;
    let key = STANDARD.decode(key).map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// When the attempt after `attempts` failed ones is due, or `None` when
/// the schedule is used up. `jitter` is in [0, 1).
pub fn next_delay(schedule: &[Duration], attempts: usize, jitter: f64) -> Option<Duration> {
    let base = *schedule.get(attempts)?;
    if base >= Duration::from_secs(300) {
        Some(base.mul_f64(1.0 + 0.1 * jitter.clamp(0.0, 1.0)))
    } else {
        Some(base)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid absolute URL")]
    NotAUrl,
    #[error("only http and https URLs are accepted")]
    Scheme,
    #[error("URLs with a user name or password are not accepted")]
    UserInfo,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "the host is a loopback, private, link-local or otherwise internal address, which webhooks may not reach"
    )]
    Internal,
}

/// Checks a webhook URL's form, and refuses hosts that are internal by
/// name or address literal. Names are resolved and checked again at each
/// attempt, so a name that later points inside is refused then.
/// `allowed` lists `host[:port]`s an operator lets through anyway
/// (`CUTROOM_WEBHOOK_PRIVATE_HOSTS`).
pub fn check_url(raw: &str, allowed: &std::collections::BTreeSet<String>) -> Result<Url, UrlError> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(UrlError::NotAUrl);
    }
    let url = Url::parse(raw).map_err(|_| UrlError::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::UserInfo);
    }
    if is_allowed(&url, allowed) {
        return Ok(url);
    }
    match url.host() {
        None => Err(UrlError::NoHost),
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(UrlError::Internal),
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(UrlError::Internal),
        Some(url::Host::Domain(name)) if internal_name(name) => Err(UrlError::Internal),
        Some(_) => Ok(url),
    }
}

/// Whether the operator allowed this URL's `host` or `host:port`.
pub fn is_allowed(url: &Url, allowed: &std::collections::BTreeSet<String>) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = url
        .port_or_known_default()
        .map(|p| format!("{host}:{p}"))
        .unwrap_or_else(|| host.clone());
    allowed.contains(&host) || allowed.contains(&with_port)
}

/// Names that only ever mean this machine or its private network.
fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || name == "metadata.google.internal"
}

/// Whether an address is on the public internet. Written out here because
/// `IpAddr::is_global` is still unstable; the ranges are IANA's special-
/// purpose registries, with the cloud metadata address among link-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b))) // benchmarking
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn signatures_match_the_specification_example() {
        // The example in the Standard Webhooks specification's README.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(sign("MfKQ9r8", id, 1, body), Err(BadSecret));
    }

    #[test]
    fn the_schedule_runs_out_and_only_long_delays_jitter() {
        assert_eq!(next_delay(&RETRY_SCHEDULE, 0, 0.9), Some(Duration::ZERO));
        assert_eq!(
            next_delay(&RETRY_SCHEDULE, 1, 0.9),
            Some(Duration::from_secs(5))
        );
        let d = next_delay(&RETRY_SCHEDULE, 2, 0.5).unwrap();
        assert_eq!(d, Duration::from_secs(315));
        assert_eq!(next_delay(&RETRY_SCHEDULE, 8, 0.0), None);
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert!(total > Duration::from_secs(24 * 3600), "{total:?}");
    }

    #[test]
    fn internal_addresses_are_refused() {
        let none = BTreeSet::new();
        for bad in [
            "http://127.0.0.1/hook",
            "http://127.1.2.3:8080/",
            "http://localhost/",
            "http://api.localhost/",
            "http://10.0.0.7/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert_eq!(check_url(bad, &none), Err(UrlError::Internal), "{bad}");
        }
        assert_eq!(
            check_url("file:///etc/passwd", &none),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("ftp://example.com/", &none),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@example.com/", &none),
            Err(UrlError::UserInfo)
        );
        assert_eq!(check_url("not a url", &none), Err(UrlError::NotAUrl));
        for good in [
            "https://example.com/hooks",
            "http://93.184.215.14:8080/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(check_url(good, &none).is_ok(), "{good}");
        }
    }

    #[test]
    fn an_operator_can_allow_a_private_host_and_port() {
        let allowed: BTreeSet<String> = ["127.0.0.1:9000".to_owned()].into();
        assert!(check_url("http://127.0.0.1:9000/hook", &allowed).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:9001/hook", &allowed),
            Err(UrlError::Internal)
        );
    }

    #[test]
    fn public_and_internal_addresses() {
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2606:4700::1111".parse().unwrap()));
        assert!(!is_public(IpAddr::V6(
            Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped()
        )));
        assert!(is_public(IpAddr::V6(
            Ipv4Addr::new(8, 8, 4, 4).to_ipv6_mapped()
        )));
        assert!(!is_public("198.18.0.1".parse().unwrap()));
        assert!(!is_public("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn job_events_map_to_webhook_types() {
        assert_eq!(event_type("status", Some("queued")), Some("job.created"));
        assert_eq!(event_type("status", Some("running")), None);
        assert_eq!(event_type("stage_started", None), None);
        assert_eq!(
            event_type("stage_completed", None),
            Some("job.stage_completed")
        );
        for t in EVENT_TYPES {
            assert!(
                [
                    ("status", "queued"),
                    ("status", "succeeded"),
                    ("status", "failed"),
                    ("status", "cancelled"),
                    ("stage_completed", ""),
                    ("moderation_flagged", ""),
                    ("clips_ready", ""),
                ]
                .iter()
                .any(|(k, m)| event_type(k, Some(m)) == Some(t)),
                "{t} is never sent"
            );
        }
    }
}

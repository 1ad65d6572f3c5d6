//! Webhooks as the Standard Webhooks specification has them
//! (<https://www.standardwebhooks.com/>): every message carries
//! `webhook-id`, `webhook-timestamp` and `webhook-signature`, the last being
//! `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the
//! endpoint's secret (`whsec_` and the base64 key). Receivers verify with
//! any of the specification's libraries.
//!
//! A message is delivered at least once: it is retried on the
//! [`RETRY_SCHEDULE`] (about a day) until an attempt gets a 2xx answer.
//! This module holds the message format: event types (which job event
//! sends which is [`crate::events`]'), payloads, signatures, the schedule;
//! the sender is [`crate::housekeeping::webhooks`]. The address guard is [`crate::outbound`]'s.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use crate::events::WebhookEvent;

/// Every event type an endpoint may subscribe to, as endpoints list them
/// ([`WebhookEvent`]'s names).
pub const EVENT_TYPES: [&str; WebhookEvent::ALL.len()] = {
    let mut names = [""; WebhookEvent::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = WebhookEvent::ALL[i].as_str();
        i += 1;
    }
    names
};

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

/// The address guard is the one every tenant-supplied URL goes through.
pub use crate::outbound::{UrlError, check_url, is_allowed, is_public};

#[cfg(test)]
mod tests {
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
}

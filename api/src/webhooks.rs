//! The webhook sender: every API process leases due messages from the
//! outbox, signs and posts them, and writes down what happened. A message
//! is retried on the configured schedule until a 2xx answer; an endpoint
//! that keeps failing is disabled.
//!
//! Receivers are reached only at public addresses (unless the operator
//! lists a private `host[:port]`): the URL is checked again at each
//! attempt, names are resolved through [`PublicOnly`], which drops
//! internal addresses (so DNS that changes after the endpoint was saved
//! does not get in), redirects are not followed and no proxy is used.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::Utc;
use cutroom_core::{
    queries::webhooks::{self as outbox, Attempt, Next},
    webhooks::{self, is_public},
};
use cutroom_entities::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::app::App;

/// Messages leased per round, and sent at once.
const BATCH: u64 = 32;
const IN_FLIGHT: usize = 8;

/// The two HTTP clients: one that reaches public addresses only, and one
/// for the hosts the operator allowed.
#[derive(Clone)]
pub struct Sender {
    public: reqwest::Client,
    allowed: reqwest::Client,
}

impl Sender {
    pub fn new(timeout: Duration) -> Self {
        let builder = || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("Cutroom-Webhooks/", env!("CARGO_PKG_VERSION")))
        };
        Self {
            public: builder()
                .dns_resolver(Arc::new(PublicOnly))
                .build()
                .expect("a client with a resolver builds"),
            allowed: builder().build().expect("a plain client builds"),
        }
    }
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends due messages until `shutdown`.
pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
    let sender = Sender::new(app.config.webhooks.timeout);
    let mut tick = tokio::time::interval(app.config.webhooks.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Round after round while there is a backlog.
        loop {
            match send_due(&app, &sender).await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox unavailable; will retry");
                    break;
                }
            }
        }
    }
}

/// One round: leases what is due and sends it. Returns how many were
/// leased. Public so tests can drive the sender.
pub async fn send_due(app: &App, sender: &Sender) -> Result<usize, sea_orm::DbErr> {
    let db = &app.db.orm;
    // The lease outlives the longest attempt, so no other sender takes a
    // message that is still being sent.
    let lease = app.config.webhooks.timeout * 2 + Duration::from_secs(30);
    let due = outbox::claim_due(db, Utc::now(), lease, BATCH).await?;
    let n = due.len();
    let results: Vec<Result<(), sea_orm::DbErr>> = futures::stream::iter(due)
        .map(|(d, e)| deliver(app, sender, d, e))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(n)
}

/// One attempt at one message.
#[tracing::instrument(name = "webhook", skip_all, fields(tenant.id = %d.tenant_id, webhook.id = %d.id, endpoint.id = %e.id, event = %d.event_type))]
async fn deliver(
    app: &App,
    sender: &Sender,
    d: delivery::Model,
    e: endpoint::Model,
) -> Result<(), sea_orm::DbErr> {
    let config = &app.config.webhooks;
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let (status_code, error, retry_after) = if e.enabled {
        attempt(app, sender, &d, &e).await
    } else {
        (None, Some("the endpoint is disabled".to_owned()), None)
    };
    let ok = status_code.is_some_and(|s| (200..300).contains(&s)) && error.is_none();
    let next = if ok {
        Next::Delivered
    } else if !e.enabled {
        Next::GiveUp
    } else {
        let attempts = usize::try_from(d.attempts).unwrap_or(0) + 1;
        match webhooks::next_delay(&config.schedule, attempts, rand::random()) {
            // A receiver that asks for a longer pause gets it.
            Some(delay) => {
                let delay = retry_after.map_or(delay, |r| r.max(delay));
                Next::RetryAt(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
            }
            None => Next::GiveUp,
        }
    };
    match &next {
        Next::Delivered => tracing::debug!(status_code, "webhook delivered"),
        Next::RetryAt(at) => {
            tracing::info!(status_code, error, retry_at = %at, "webhook attempt failed; will retry")
        }
        Next::GiveUp => tracing::warn!(status_code, error, "webhook failed; no attempts left"),
    }
    let attempt = Attempt {
        at: started,
        status_code,
        error,
        duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if outbox::record_attempt(&app.db.orm, &d, attempt, next, config.disable_after).await? {
        tracing::warn!(url = %e.url, "webhook endpoint disabled: it kept failing");
    }
    Ok(())
}

/// Posts the message. Returns the receiver's status, why the attempt
/// failed when it did, and the pause a 429 or 503 asked for.
async fn attempt(
    app: &App,
    sender: &Sender,
    d: &delivery::Model,
    e: &endpoint::Model,
) -> (Option<u16>, Option<String>, Option<Duration>) {
    let config = &app.config.webhooks;
    let url = match webhooks::check_url(&e.url, &config.private_hosts) {
        Ok(url) => url,
        Err(err) => return (None, Some(format!("refused: {err}")), None),
    };
    let secret = match app.sealer.open(e.tenant_id, &e.secret) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "a webhook secret does not open");
            return (
                None,
                Some("the endpoint's secret cannot be read".into()),
                None,
            );
        }
    };
    let id = d.id.to_string();
    let timestamp = Utc::now().timestamp();
    let signature = match webhooks::sign(secret.expose_secret(), &id, timestamp, &d.payload) {
        Ok(s) => s,
        Err(err) => return (None, Some(err.to_string()), None),
    };
    let client = if webhooks::is_allowed(&url, &config.private_hosts) {
        &sender.allowed
    } else {
        &sender.public
    };
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match response {
        Ok(r) => {
            let status = r.status();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                // A day at most: the schedule's own span.
                .map(|s| Duration::from_secs(s.min(24 * 3600)));
            let error = (!status.is_success()).then(|| match status.as_u16() {
                300..=399 => format!("answered {status}; redirects are not followed"),
                _ => format!("answered {status}"),
            });
            (Some(status.as_u16()), error, retry_after)
        }
        Err(err) => (None, Some(describe(&err)), None),
    }
}

/// A transport error in a few words, with its cause (reqwest's own
/// message is only "error sending request").
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

//! The webhook sender: every long-lived process (API or worker) leases due messages from the
//! outbox, signs and posts them, and writes down what happened. A message
//! is retried on the configured schedule until a 2xx answer; an endpoint
//! that keeps failing is disabled.
//!
//! Receivers are reached only at public addresses (unless the operator
//! lists a private `host[:port]`), through the outbound guard
//! ([`cutroom_core::outbound`]): the URL is checked again at each attempt,
//! names resolve to public addresses only, redirects are not followed and
//! no proxy is used.
//!
//! Messages are sent as they come due, each in its own task, with at most
//! [`FAIRNESS`]'s share of them per tenant and per endpoint in flight
//! across the fleet: receivers that hang hold their own tenant's share
//! until the timeout, never another tenant's deliveries.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use cutroom_entities::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Housekeeper;
use crate::{
    outbound::{self, Guarded},
    queries::webhooks::{self as outbox, Attempt, Fairness, Next},
    webhooks,
};

/// Messages one process sends at once.
const IN_FLIGHT: usize = 32;
/// Messages in flight per tenant and per endpoint, across every sender.
pub const FAIRNESS: Fairness = Fairness {
    per_tenant: 4,
    per_endpoint: 2,
};
/// How long a stopping process lets the attempts in flight finish; the
/// rest are sent again by another (their lease runs out).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The HTTP clients of the sender, behind the outbound guard.
#[derive(Clone)]
pub struct Sender {
    http: Guarded,
}

impl Sender {
    pub fn new(config: &crate::config::WebhookConfig) -> Self {
        let timeout = config.timeout;
        let builder = move || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .user_agent(concat!("Cutroom-Webhooks/", env!("CARGO_PKG_VERSION")))
        };
        Self {
            http: Guarded::new(builder, config.private_hosts.clone()),
        }
    }
}

/// Sends due messages until `shutdown`: whenever there is room, leases
/// what is due within the shares and sends each in a task of its own.
pub(super) async fn run(app: Arc<Housekeeper>, shutdown: CancellationToken) {
    let sender = Sender::new(&app.config.webhooks);
    let mut tick = tokio::time::interval(app.config.webhooks.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sending: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            // An attempt ended: its share is free again.
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
        }
        while sending.try_join_next().is_some() {}
        let room = IN_FLIGHT.saturating_sub(sending.len());
        if room == 0 {
            continue;
        }
        let lease = lease(&app);
        match outbox::claim_due(&app.db.orm, Utc::now(), lease, room, FAIRNESS).await {
            Ok(due) => {
                for (d, e) in due {
                    let (app, sender) = (Arc::clone(&app), sender.clone());
                    sending.spawn(async move {
                        if let Err(err) = deliver(&app, &sender, d, e).await {
                            tracing::warn!(error = %err, "a webhook attempt could not be recorded; its lease will run out and it is sent again");
                        }
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook outbox unavailable; will retry"),
        }
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sending.join_next().await.is_some() {}
    })
    .await;
    sending.shutdown().await;
}

/// The lease outlives the longest attempt, so no other sender takes a
/// message that is still being sent.
fn lease(app: &Housekeeper) -> Duration {
    app.config.webhooks.timeout * 2 + Duration::from_secs(30)
}

/// One attempt at one message.
#[tracing::instrument(name = "webhook", skip_all, fields(tenant.id = %d.tenant_id, webhook.id = %d.id, endpoint.id = %e.id, event = %d.event_type))]
async fn deliver(
    app: &Housekeeper,
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
    app: &Housekeeper,
    sender: &Sender,
    d: &delivery::Model,
    e: &endpoint::Model,
) -> (Option<u16>, Option<String>, Option<Duration>) {
    let (client, url) = match sender.http.client_for(&e.url) {
        Ok(checked) => checked,
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
        Err(err) => (None, Some(outbound::describe(&err)), None),
    }
}

//! Webhook delivery settings (`CUTROOM_WEBHOOK_*`).

use std::{collections::BTreeSet, time::Duration};

use anyhow::Context;

use super::env::hosts;

/// Webhook delivery (see `cutroom_core::webhooks`).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `host` or `host:port` entries webhooks may reach although they are
    /// loopback or private addresses (`CUTROOM_WEBHOOK_PRIVATE_HOSTS`).
    pub private_hosts: BTreeSet<String>,
    /// Longest wait for a receiver's answer (`CUTROOM_WEBHOOK_TIMEOUT_SECS`).
    pub timeout: Duration,
    /// An endpoint whose every attempt failed for this long is disabled
    /// (`CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS`, default 24).
    pub disable_after: Duration,
    /// Delays before each attempt; [`crate::webhooks::RETRY_SCHEDULE`]
    /// unless a test shortens it.
    pub schedule: Vec<Duration>,
    /// How often each API process looks for due messages.
    pub poll_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            private_hosts: BTreeSet::new(),
            timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(24 * 3600),
            schedule: crate::webhooks::RETRY_SCHEDULE.to_vec(),
            poll_interval: Duration::from_millis(250),
        }
    }
}

impl WebhookConfig {
    /// Reads `CUTROOM_WEBHOOK_PRIVATE_HOSTS`, `CUTROOM_WEBHOOK_TIMEOUT_SECS`
    /// and `CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS` over these values.
    pub(super) fn read_vars(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("WEBHOOK_PRIVATE_HOSTS") {
            self.private_hosts = hosts(v);
        }
        if let Some(v) = var("WEBHOOK_TIMEOUT_SECS") {
            let secs: u64 = v
                .parse()
                .ok()
                .filter(|n| (1..=120).contains(n))
                .with_context(|| format!("CUTROOM_WEBHOOK_TIMEOUT_SECS={v}: expected 1 to 120"))?;
            self.timeout = Duration::from_secs(secs);
        }
        if let Some(v) = var("WEBHOOK_DISABLE_AFTER_HOURS") {
            let hours: u64 = v
                .parse()
                .ok()
                .filter(|n| (1..=720).contains(n))
                .with_context(|| {
                    format!("CUTROOM_WEBHOOK_DISABLE_AFTER_HOURS={v}: expected 1 to 720")
                })?;
            self.disable_after = Duration::from_secs(hours * 3600);
        }
        Ok(())
    }
}

//! How the transcription router weighs engines (see `cutroom_core::speech`).

use std::time::Duration;

/// US dollars an hour of one core, for the worker's own cost when the
/// operator sets none: about what a general-purpose cloud vCPU costs on
/// demand.
pub const DEFAULT_CORE_HOUR_USD: f64 = 0.04;

#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// What an hour of a worker costs, US dollars
    /// (`CUTROOM_WORKER_COST_PER_HOUR`). Unset: [`DEFAULT_CORE_HOUR_USD`]
    /// for each of the job's threads. A local stage costs its time at
    /// this price.
    pub worker_cost_per_hour: Option<f64>,
    /// Speech longer than this goes to the cheapest cloud engine under
    /// `auto` and the `balanced` tier, when the tenant has one and its
    /// budget allows (`CUTROOM_ROUTER_LONG_SPEECH_SECS`, default 1800).
    pub long_speech: Duration,
    /// Requests to a cloud engine at most, the first included, before the
    /// next engine runs (`CUTROOM_ROUTER_CLOUD_ATTEMPTS`, 1-10, default 3).
    pub cloud_attempts: u32,
    /// The first retry's pause; each later one up to twice as long, with
    /// full jitter; a `Retry-After` is honoured up to 30 s
    /// (`CUTROOM_ROUTER_CLOUD_BACKOFF_MS`, default 500).
    pub cloud_backoff: Duration,
    /// How often a job waiting for its tenant's budget
    /// (`budget.at_limit: wait`) looks again (`CUTROOM_BUDGET_RECHECK_SECS`,
    /// default 3600); it also looks when the month turns.
    pub budget_recheck: Duration,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            worker_cost_per_hour: None,
            long_speech: Duration::from_secs(1800),
            cloud_attempts: 3,
            cloud_backoff: Duration::from_millis(500),
            budget_recheck: Duration::from_secs(3600),
        }
    }
}

impl RouterConfig {
    /// The price of an hour of a worker that runs `threads` threads.
    pub fn cost_per_hour(&self, threads: usize) -> f64 {
        self.worker_cost_per_hour
            .unwrap_or(DEFAULT_CORE_HOUR_USD * threads.max(1) as f64)
    }
}

impl RouterConfig {
    /// Reads `CUTROOM_WORKER_COST_PER_HOUR` and `CUTROOM_ROUTER_*` over `c`.
    pub(super) fn from_vars(
        var: impl Fn(&str) -> Option<String> + Copy,
        mut c: RouterConfig,
    ) -> anyhow::Result<RouterConfig> {
        use anyhow::Context;
        if let Some(v) = var("WORKER_COST_PER_HOUR") {
            c.worker_cost_per_hour = Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=10_000.0).contains(p))
                    .with_context(|| {
                        format!(
                            "CUTROOM_WORKER_COST_PER_HOUR={v}: expected 0 to 10000 (US dollars)"
                        )
                    })?,
            );
        }
        c.long_speech = super::env::secs(var, "ROUTER_LONG_SPEECH_SECS", c.long_speech)?;
        c.cloud_attempts = u32::try_from(super::env::bounded(
            var,
            "ROUTER_CLOUD_ATTEMPTS",
            u64::from(c.cloud_attempts),
            10,
        )?)
        .expect("at most 10");
        if let Some(v) = var("ROUTER_CLOUD_BACKOFF_MS") {
            c.cloud_backoff = Duration::from_millis(v.parse().with_context(|| {
                format!("CUTROOM_ROUTER_CLOUD_BACKOFF_MS={v} is not a number of milliseconds")
            })?);
        }
        c.budget_recheck = super::env::secs(var, "BUDGET_RECHECK_SECS", c.budget_recheck)?;
        if c.budget_recheck.is_zero() {
            anyhow::bail!("CUTROOM_BUDGET_RECHECK_SECS must be at least 1");
        }
        Ok(c)
    }
}

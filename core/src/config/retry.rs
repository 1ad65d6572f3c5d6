//! Automatic retries of jobs that failed for a reason that may pass.

use std::time::Duration;

/// How jobs that failed with a passing error (`download_failed`,
/// `download_timeout`, `storage_error`, or a worker that died under them)
/// run again.
#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Runs of one job at most, the first included
    /// (`CUTROOM_JOB_MAX_ATTEMPTS`, 1-10, default 3).
    pub max_attempts: u32,
    /// The pause before the first retry; each later one waits four times
    /// longer, with 20 % jitter (`CUTROOM_JOB_RETRY_BACKOFF_SECS`, default 30).
    pub backoff: Duration,
}

impl RetryConfig {
    /// The longest pause between two attempts.
    pub const MAX_DELAY: Duration = Duration::from_secs(3600);

    /// The pause after attempt `failed` (1 for the first run):
    /// `backoff * 4^(failed-1)`, at most an hour, within 20 % either way
    /// so jobs that failed together (a storage outage) do not all come
    /// back in the same second.
    pub fn delay(&self, failed: u32) -> Duration {
        let factor = 4u32.saturating_pow(failed.saturating_sub(1));
        let base = self.backoff.saturating_mul(factor).min(Self::MAX_DELAY);
        base.mul_f64(rand::random_range(0.8..=1.2))
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryConfig;

    #[test]
    fn retry_pauses_grow_fourfold_with_jitter_and_a_ceiling() {
        let c = RetryConfig {
            max_attempts: 5,
            backoff: Duration::from_secs(30),
        };
        for _ in 0..50 {
            let first = c.delay(1).as_secs_f64();
            let second = c.delay(2).as_secs_f64();
            assert!((24.0..=36.0).contains(&first), "{first}");
            assert!((96.0..=144.0).contains(&second), "{second}");
            assert!(c.delay(9) <= RetryConfig::MAX_DELAY.mul_f64(1.2));
        }
    }
}

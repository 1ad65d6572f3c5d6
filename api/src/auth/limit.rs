//! Request rate limits per credential: each user and each API key has
//! its own allowance of `CUTROOM_RATE_LIMIT_PER_MINUTE` requests a minute
//! (the generic cell rate algorithm, so the allowance refills steadily and
//! a full minute's worth may come at once). Over it, requests get
//! `429 rate_limited` with `Retry-After`.
//!
//! The counts live in each API process: with several replicas behind a
//! load balancer a credential gets up to the limit from each.

use std::num::NonZeroU32;

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use super::Principal;
use crate::error::ApiError;

pub struct Limiter {
    inner: DefaultKeyedRateLimiter<Principal>,
}

impl Limiter {
    /// `None` when `per_minute` is 0 (no limit).
    pub fn new(per_minute: u32) -> Option<Self> {
        let n = NonZeroU32::new(per_minute)?;
        Some(Self {
            inner: RateLimiter::keyed(Quota::per_minute(n)),
        })
    }

    pub fn check(&self, who: Principal) -> Result<(), ApiError> {
        self.inner.check_key(&who).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
        })
    }

    /// Forgets credentials whose allowance is full again, so the table
    /// does not grow with every key ever seen.
    pub fn forget_idle(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

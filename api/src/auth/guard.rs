//! Limits on the endpoints that hand out credentials, which anyone may
//! call: per client address (`CUTROOM_AUTH_LIMIT_PER_MINUTE`) on signup,
//! login, refresh and invitation acceptance, and per account
//! (`CUTROOM_LOGIN_LIMIT_PER_MINUTE`) on login, so guessing a password is
//! slow from one address and from many. Over a limit: `429 rate_limited`
//! with `Retry-After`.
//!
//! The client address is the connection's peer, or what a trusted proxy
//! forwards (see [`crate::client`]). Requests that came over no socket (in
//! process) have no address and are limited per account only. Counts live
//! in each API process, like the per-credential limits.

use std::{hash::Hash, net::IpAddr, num::NonZeroU32};

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use cutroom_core::config::Guards;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::ProblemCode;
use crate::{app::AppState, client, error::ApiError};

/// The endpoints limited per client address.
pub const PATHS: [&str; 4] = [
    "/v1/auth/signup",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/accept-invite",
];

pub struct AuthGuard {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Option<DefaultKeyedRateLimiter<String>>,
}

fn keyed<K: Clone + Hash + Eq>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check<K: Clone + Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = (wait.as_secs_f64().ceil() as u64).max(1);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::RateLimited,
            format!("too many sign-in requests {what}; retry in {secs} s"),
        )
        .retry_after(secs)
    })
}

impl AuthGuard {
    pub fn new(guards: &Guards) -> Self {
        Self {
            per_address: keyed(guards.auth_per_address_per_minute),
            per_account: keyed(guards.login_per_account_per_minute),
        }
    }

    /// Counts a login attempt on the account `email` names, whether or
    /// not it exists (so the answer tells nothing about that).
    pub fn check_account(&self, email: &str) -> Result<(), ApiError> {
        match &self.per_account {
            Some(limiter) => check(limiter, &email.trim().to_lowercase(), "for this account"),
            None => Ok(()),
        }
    }

    fn check_address(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.per_address, ip) {
            (Some(limiter), Some(ip)) => check(limiter, &ip, "from this address"),
            _ => Ok(()),
        }
    }

    /// Forgets addresses and accounts whose allowance is full again.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_account {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The middleware: counts requests to [`PATHS`] against their address.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST && PATHS.contains(&req.uri().path()) {
        let (parts, body) = req.into_parts();
        let ip = client::client_ip(&parts, &state.config.guards.trusted_proxies);
        if let Err(e) = state.auth_guard.check_address(ip) {
            return e.into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(req).await
}

//! Limits that keep clients, signed in or not, from exhausting the API
//! process: connections, slow clients, and the endpoints that hand out
//! credentials (each costs a password hash).

use std::{net::IpAddr, time::Duration};

use anyhow::Context;

#[derive(Clone, Debug)]
pub struct Guards {
    /// Signup, login, refresh and invitation acceptance a minute per client
    /// address; 0: no limit (`CUTROOM_AUTH_LIMIT_PER_MINUTE`, default 30).
    pub auth_per_address_per_minute: u32,
    /// Login attempts a minute per account (email), from anywhere; 0: no
    /// limit (`CUTROOM_LOGIN_LIMIT_PER_MINUTE`, default 10).
    pub login_per_account_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client
    /// (`CUTROOM_TRUSTED_PROXIES`, comma-separated addresses). Empty: the
    /// connection's peer address is the client, whatever headers say.
    pub trusted_proxies: Vec<IpAddr>,
    /// A connection that has not sent a whole request head this long after
    /// it opened or after its last answer is closed: idle keep-alive
    /// connections and clients trickling their headers alike
    /// (`CUTROOM_HTTP_HEADER_TIMEOUT_SECS`, default 30).
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long is answered
    /// `408 body_timeout` and its connection closed
    /// (`CUTROOM_HTTP_BODY_TIMEOUT_SECS`, default 30). Uploads to local
    /// storage stream for as long as bytes keep coming.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog
    /// (`CUTROOM_HTTP_MAX_CONNECTIONS`, default 1024).
    pub max_connections: usize,
    /// How often an open live stream checks that its credential still
    /// opens the tenant (`CUTROOM_LIVE_RECHECK_SECS`, default 30).
    pub live_recheck: Duration,
    /// Live streams one user or API key may hold open at once
    /// (`CUTROOM_LIVE_STREAMS_PER_CREDENTIAL`, default 10).
    pub live_streams_per_credential: u32,
    /// Live streams of one tenant, all its credentials together
    /// (`CUTROOM_LIVE_STREAMS_PER_TENANT`, default 100).
    pub live_streams_per_tenant: u32,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            auth_per_address_per_minute: 30,
            login_per_account_per_minute: 10,
            trusted_proxies: Vec::new(),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            live_recheck: Duration::from_secs(30),
            live_streams_per_credential: 10,
            live_streams_per_tenant: 100,
        }
    }
}

impl Guards {
    /// No limit on credential endpoints: for tests and benchmarks that
    /// sign in far more often than people do.
    pub fn without_auth_limits(mut self) -> Self {
        self.auth_per_address_per_minute = 0;
        self.login_per_account_per_minute = 0;
        self
    }

    /// Reads the `CUTROOM_*` variables above; `var` takes the name without
    /// the prefix.
    pub(super) fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut g = Self::default();
        let number = |name: &str, max: u64| -> anyhow::Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| *n <= max)
                        .with_context(|| format!("CUTROOM_{name}={v}: expected 0 to {max}"))
                })
                .transpose()
        };
        if let Some(n) = number("AUTH_LIMIT_PER_MINUTE", 100_000)? {
            g.auth_per_address_per_minute = n as u32;
        }
        if let Some(n) = number("LOGIN_LIMIT_PER_MINUTE", 100_000)? {
            g.login_per_account_per_minute = n as u32;
        }
        if let Some(v) = var("TRUSTED_PROXIES") {
            g.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.parse::<IpAddr>().with_context(|| {
                        format!("CUTROOM_TRUSTED_PROXIES: {a} is not an IP address")
                    })
                })
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(n) = number("HTTP_HEADER_TIMEOUT_SECS", 3600)? {
            anyhow::ensure!(n > 0, "CUTROOM_HTTP_HEADER_TIMEOUT_SECS must be at least 1");
            g.header_timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("HTTP_BODY_TIMEOUT_SECS", 3600)? {
            anyhow::ensure!(n > 0, "CUTROOM_HTTP_BODY_TIMEOUT_SECS must be at least 1");
            g.body_timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("HTTP_MAX_CONNECTIONS", 1_000_000)? {
            anyhow::ensure!(n > 0, "CUTROOM_HTTP_MAX_CONNECTIONS must be at least 1");
            g.max_connections = n as usize;
        }
        if let Some(n) = number("LIVE_RECHECK_SECS", 3600)? {
            anyhow::ensure!(n > 0, "CUTROOM_LIVE_RECHECK_SECS must be at least 1");
            g.live_recheck = Duration::from_secs(n);
        }
        if let Some(n) = number("LIVE_STREAMS_PER_CREDENTIAL", 10_000)? {
            anyhow::ensure!(
                n > 0,
                "CUTROOM_LIVE_STREAMS_PER_CREDENTIAL must be at least 1"
            );
            g.live_streams_per_credential = n as u32;
        }
        if let Some(n) = number("LIVE_STREAMS_PER_TENANT", 1_000_000)? {
            anyhow::ensure!(n > 0, "CUTROOM_LIVE_STREAMS_PER_TENANT must be at least 1");
            g.live_streams_per_tenant = n as u32;
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> anyhow::Result<Guards> {
        let m: HashMap<&str, &str> = vars.iter().copied().collect();
        Guards::from_vars(|k| m.get(k).map(|v| (*v).to_owned()))
    }

    #[test]
    fn reads_and_checks_its_variables() {
        let g = parse(&[]).unwrap();
        assert_eq!(g.auth_per_address_per_minute, 30);
        let g = parse(&[
            ("AUTH_LIMIT_PER_MINUTE", "0"),
            ("TRUSTED_PROXIES", "10.0.0.1, ::1"),
            ("HTTP_HEADER_TIMEOUT_SECS", "5"),
            ("HTTP_BODY_TIMEOUT_SECS", "7"),
        ])
        .unwrap();
        assert_eq!(g.auth_per_address_per_minute, 0);
        assert_eq!(g.trusted_proxies.len(), 2);
        assert_eq!(g.header_timeout, Duration::from_secs(5));
        assert_eq!(g.body_timeout, Duration::from_secs(7));
        for bad in [
            ("AUTH_LIMIT_PER_MINUTE", "-1"),
            ("TRUSTED_PROXIES", "proxy.local"),
            ("HTTP_HEADER_TIMEOUT_SECS", "0"),
            ("HTTP_BODY_TIMEOUT_SECS", "0"),
            ("HTTP_MAX_CONNECTIONS", "lots"),
        ] {
            let err = parse(&[bad]).unwrap_err();
            assert!(err.to_string().contains(bad.0), "{err}");
        }
    }
}

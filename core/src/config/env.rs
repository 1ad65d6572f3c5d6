//! Helpers that read one `CUTROOM_*` variable: the value checks shared by
//! several settings, each with its error message.

use std::{collections::BTreeSet, time::Duration};

use anyhow::{Context, bail};

pub(super) fn parse_bool(name: &str, v: Option<String>, default: bool) -> anyhow::Result<bool> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(o) => bail!("CUTROOM_{name}={o}: expected true or false"),
    }
}

/// A number of seconds, or `default` when the variable is unset.
pub(super) fn secs(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    var(name).map_or(Ok(default), |v| {
        v.parse::<u64>()
            .map(Duration::from_secs)
            .with_context(|| format!("CUTROOM_{name}={v} is not a number of seconds"))
    })
}

/// A number from 1 to `max`, or `default` when the variable is unset.
pub(super) fn bounded(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    max: u64,
) -> anyhow::Result<u64> {
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .with_context(|| format!("CUTROOM_{name}={v}: expected 1 to {max}"))
    })
}

/// A comma-separated list of `host[:port]`s, lowercased, blanks dropped.
pub(super) fn hosts(v: String) -> BTreeSet<String> {
    v.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

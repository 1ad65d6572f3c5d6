//! Usage metering and monthly quotas.
//!
//! Every stage that processes media records, once per job, how many
//! seconds of media it processed and with which model
//! ([`crate::queries::usage::record`]). A tenant's **media minutes** for a
//! month are its jobs' audio as decoded (not the length a header
//! declares, which can lie), counted when each job's audio is decoded: one
//! count per job, however many attempts ran it. The operator's quota caps
//! those minutes per calendar month (UTC). A job whose declared length
//! would take its tenant past the quota fails at probe with
//! `quota_exceeded`, and one whose audio runs past what is left fails while
//! it is decoded, both before anything costly runs; a submission while the
//! quota is used up answers 429.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// The highest quota that can be set: a million hours.
pub const MAX_QUOTA_MINUTES: i64 = 60_000_000;

/// The stage whose records count towards the quota: its seconds are the
/// source's audio as decoded (the name is kept from when the probe's
/// declared length was counted).
pub const QUOTA_STAGE: &str = "probe";

/// A calendar month in UTC, written `2026-11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    pub fn current() -> Self {
        Self::of(Utc::now())
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        let day = NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month");
        Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The first instant after it: when its quota resets.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a month: expected YYYY-MM, e.g. 2026-11");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(2000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
}

/// The quota that applies to a tenant: its own, else the server's default.
pub fn effective_quota(tenant: Option<i64>, default: Option<i64>) -> Option<i64> {
    tenant.or(default)
}

/// Whether `more_seconds` of media fit in what is left of `quota_minutes`
/// after `used_seconds`.
pub fn fits(quota_minutes: i64, used_seconds: f64, more_seconds: f64) -> bool {
    used_seconds + more_seconds <= quota_minutes as f64 * 60.0
}

/// Why a tenant cannot have more media processed this month: the quota,
/// what is used, and when it resets. `source` is the duration of the job
/// that does not fit, when known.
pub fn exceeded_message(quota_minutes: i64, used_seconds: f64, source: Option<f64>) -> String {
    let month = Month::current();
    let left = (quota_minutes as f64 - minutes(used_seconds)).max(0.0);
    let what = match source {
        Some(s) => format!("this source is {:.2} media minutes and ", minutes(s)),
        None => String::new(),
    };
    format!(
        "{what}the tenant has {left:.2} of its {quota_minutes} monthly media minutes left; \
         the quota resets on {} (UTC)",
        month.end().format("%Y-%m-%d")
    )
}

/// Seconds as minutes, rounded to a hundredth for reports.
pub fn minutes(seconds: f64) -> f64 {
    (seconds / 60.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_print_and_bound() {
        let m: Month = "2026-12".parse().unwrap();
        assert_eq!(m.to_string(), "2026-12");
        assert_eq!(m.start().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(m.end().to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!(Month::of(m.end()), m.next());
        let feb: Month = "2028-02".parse().unwrap();
        assert_eq!(feb.end() - feb.start(), chrono::Duration::days(29));
        for bad in [
            "2026-13", "2026-00", "26-11", "2026-1", "2026/11", "", "1999-01", "x-11",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tenants_own_quota_wins_and_the_last_second_fits() {
        assert_eq!(effective_quota(Some(5), Some(10)), Some(5));
        assert_eq!(effective_quota(None, Some(10)), Some(10));
        assert_eq!(effective_quota(None, None), None);
        assert!(fits(1, 30.0, 30.0));
        assert!(!fits(1, 30.0, 30.5));
        assert!(!fits(0, 0.0, 0.1));
        assert_eq!(minutes(90.0), 1.5);
        assert_eq!(minutes(20.004), 0.33);
    }
}

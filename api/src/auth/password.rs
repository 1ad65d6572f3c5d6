//! Password hashing with argon2id. Both directions take tens of
//! milliseconds of CPU, so they run on the blocking pool, never on the
//! async workers that serve requests.

use std::time::Duration;

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use axum::http::StatusCode;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::ProblemCode;
use crate::error::ApiError;

/// Longest password accepted: hashing cost grows with the input.
pub const MAX_LEN: usize = 1024;
pub const MIN_LEN: usize = 8;

pub fn check_policy(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(ApiError::validation(format!(
            "password must be at least {MIN_LEN} characters"
        )));
    }
    if password.len() > MAX_LEN {
        return Err(ApiError::validation(format!(
            "password must be at most {MAX_LEN} bytes"
        )));
    }
    Ok(())
}

/// How long a request waits for a turn to hash before it is turned away.
const HASH_WAIT: Duration = Duration::from_secs(5);

/// Hashes and checks passwords, a few at a time: each hash holds about
/// 19 MiB and a core for tens of milliseconds, so sixty logins at once
/// would take over a gigabyte. At most one per core runs; the rest wait
/// up to [`HASH_WAIT`], then get `503 server_busy` with `Retry-After`.
pub struct Hasher {
    turns: Semaphore,
    wait: Duration,
}

impl Default for Hasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, HASH_WAIT)
    }
}

impl Hasher {
    pub fn new(at_once: usize, wait: Duration) -> Self {
        Self {
            turns: Semaphore::new(at_once.max(1)),
            wait,
        }
    }

    async fn turn(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.turns.acquire()).await {
            Ok(permit) => Ok(permit.expect("the semaphore is never closed")),
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ProblemCode::ServerBusy,
                "too many sign-ins at once; retry shortly",
            )
            .retry_after(1)),
        }
    }

    /// A PHC string (`$argon2id$v=19$...`) with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _turn = self.turn().await?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .await?
    }

    /// False for a wrong password and for a hash that does not parse.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        let _turn = self.turn().await?;
        let span = tracing::Span::current();
        let ok = tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            PasswordHash::new(&phc).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await?;
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let h = Hasher::default();
        let a = h.hash("correct horse".into()).await.unwrap();
        let b = h.hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(h.verify("correct horse".into(), a.clone()).await.unwrap());
        assert!(!h.verify("wrong horse".into(), a).await.unwrap());
        assert!(!h.verify("x".into(), "not a hash".into()).await.unwrap());
    }

    /// Sixty logins at once took the process from 213 MB to 1.4 GB.
    #[tokio::test]
    async fn hashing_waits_its_turn_then_sheds() {
        let h = Hasher::new(1, Duration::from_millis(10));
        let held = h.turns.acquire().await.unwrap();
        let err = h.hash("correct horse".into()).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code(), "server_busy");
        drop(held);
        assert!(h.hash("correct horse".into()).await.is_ok());
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}

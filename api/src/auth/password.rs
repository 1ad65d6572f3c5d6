//! Password hashing with argon2id. Both directions take tens of
//! milliseconds of CPU, so they run on the blocking pool, never on the
//! async workers that serve requests.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};

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

/// A PHC string (`$argon2id$v=19$...`) with a fresh random salt.
pub async fn hash(password: String) -> Result<String, ApiError> {
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
pub async fn verify(password: String, phc: String) -> Result<bool, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("correct horse".into()).await.unwrap();
        let b = hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("correct horse".into(), a.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), a).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}

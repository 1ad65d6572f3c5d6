//! Opaque credentials: API keys, refresh tokens and invitation tokens.
//!
//! All are random, recognisable by their prefix (so secret scanners and
//! people can tell them apart) and stored only as a sha256 digest.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "crk_";
pub const REFRESH_TOKEN_PREFIX: &str = "crr_";
pub const INVITATION_PREFIX: &str = "cri_";

/// Length of the public part that finds the row.
const KEY_ID_LEN: usize = 12;
/// Length of the secret part (alphanumeric: about 238 bits).
const KEY_SECRET_LEN: usize = 40;

/// A freshly generated API key. `full` is shown once and never stored.
pub struct NewApiKey {
    pub full: String,
    /// `crk_<12 chars>`: stored in clear, shown in listings.
    pub prefix: String,
    /// sha256 of the secret part, hex.
    pub secret_hash: String,
}

pub fn generate_api_key() -> NewApiKey {
    let id = random_alphanumeric(KEY_ID_LEN);
    let secret = random_alphanumeric(KEY_SECRET_LEN);
    let prefix = format!("{API_KEY_PREFIX}{id}");
    NewApiKey {
        full: format!("{prefix}_{secret}"),
        secret_hash: sha256_hex(&secret),
        prefix,
    }
}

/// Splits `crk_<id>_<secret>` into the stored prefix and the secret;
/// `None` for anything not shaped like a key.
pub fn parse_api_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    if id.len() != KEY_ID_LEN
        || secret.len() < 32
        || secret.len() > 128
        || !alnum(id)
        || !alnum(secret)
    {
        return None;
    }
    Some((&token[..API_KEY_PREFIX.len() + KEY_ID_LEN], secret))
}

/// `prefix` + 256 random bits, URL-safe.
pub fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compares without an early exit, so timing says nothing about where two digests differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_the_documented_shape_and_parse_back() {
        let k = generate_api_key();
        assert!(k.full.starts_with("crk_"));
        assert_eq!(k.prefix.len(), 4 + 12);
        assert!(k.full.starts_with(&format!("{}_", k.prefix)));
        let (prefix, secret) = parse_api_key(&k.full).unwrap();
        assert_eq!(prefix, k.prefix);
        assert!(secret.len() >= 32);
        assert_eq!(sha256_hex(secret), k.secret_hash);
        assert_eq!(k.secret_hash.len(), 64);
        assert_ne!(generate_api_key().full, k.full);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let good = generate_api_key().full;
        for bad in [
            "",
            "crk_",
            "crk_short_0123456789abcdef0123456789abcdef",
            &good.replacen("crk_", "crx_", 1),
            &good[..good.len() - 20],
            &format!("{good}!"),
        ] {
            assert!(parse_api_key(bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn digests_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn refresh_tokens_are_prefixed_and_unique() {
        let t = random_token(REFRESH_TOKEN_PREFIX);
        assert!(t.starts_with("crr_") && t.len() == 4 + 43);
        assert_ne!(t, random_token(REFRESH_TOKEN_PREFIX));
    }
}

//! Tenant secrets at rest (an LLM provider's API key): sealed with
//! ChaCha20-Poly1305 under a key derived from the server's
//! `CUTROOM_SECRET_KEY` (HKDF-SHA256), with the tenant's id as associated
//! data, so a sealed value copied into another tenant's settings does not
//! open. The API only ever accepts plain keys and returns a hint; the
//! worker opens them when it calls the provider.

use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit,
    aead::{Aead, Payload},
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

/// What a sealed value starts with; the version names the key derivation
/// and cipher, so both can change without guessing.
pub const SEALED_PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("not a sealed value")]
    NotSealed,
    /// Wrong tenant, a changed `CUTROOM_SECRET_KEY`, or tampering.
    #[error("the sealed value does not open with this server's secret key for this tenant")]
    DoesNotOpen,
}

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(secret_key: &SecretString) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, secret_key.expose_secret().as_bytes());
        let mut key = [0u8; 32];
        hk.expand(b"cutroom tenant secrets v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Self {
            cipher: ChaCha20Poly1305::new(&key.into()),
        }
    }

    pub fn seal(&self, tenant_id: Uuid, plain: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plain.as_bytes(),
                    aad: tenant_id.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{SEALED_PREFIX}{}", STANDARD_NO_PAD.encode(bytes))
    }

    pub fn open(&self, tenant_id: Uuid, sealed: &str) -> Result<SecretString, SecretError> {
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(SecretError::NotSealed)?;
        let bytes = STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::DoesNotOpen)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::DoesNotOpen);
        }
        let (nonce, message) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let plain = self
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: message,
                    aad: tenant_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::DoesNotOpen)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretError::DoesNotOpen)
    }
}

/// The last four characters of a key, for a person to recognise it by.
pub fn hint(plain: &str) -> String {
    let chars: Vec<char> = plain.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

/// Why a settings change that holds API keys was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A sealed value that is not the stored one.
    #[error("{0}")]
    Sealed(String),
    /// The endpoint's URL changed and the stored key was kept.
    #[error("{0}")]
    Required(String),
}

/// One endpoint's key field after a settings change, as it is to be
/// stored: a key given in plain text is sealed and its hint set; a sealed
/// value must be the one already stored (clients cannot set sealed values
/// themselves) and is kept only when `same_destination` (a stored key goes
/// only where it was stored for: a change of the endpoint's URL must bring
/// the key again, else an admin could send the owner's key to a server of
/// their own); no key clears the hint. `field` is the key's path in the
/// settings, for the message.
#[allow(clippy::too_many_arguments)]
pub fn seal_key(
    key: &mut Option<String>,
    hint: &mut Option<String>,
    before: (Option<&str>, Option<&str>),
    same_destination: bool,
    field: &str,
    sealer: &Sealer,
    tenant_id: Uuid,
) -> Result<(), KeyError> {
    let (before_key, before_hint) = before;
    match key.take() {
        None => *hint = None,
        Some(sealed) if sealed.starts_with(SEALED_PREFIX) => {
            if before_key != Some(sealed.as_str()) {
                return Err(KeyError::Sealed(format!("{field} must be the key itself")));
            }
            if !same_destination {
                let at = field.strip_suffix(".api_key").unwrap_or(field);
                return Err(KeyError::Required(format!(
                    "{at}.base_url changed: set {field} again (or null to remove the stored \
                     key), so the key goes only where its owner sent it"
                )));
            }
            *key = Some(sealed);
            *hint = before_hint.map(str::to_owned);
        }
        Some(plain) => {
            let plain = plain.trim();
            *hint = Some(self::hint(plain));
            *key = Some(sealer.seal(tenant_id, plain));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secret: &str) -> Sealer {
        Sealer::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_tenant_and_server() {
        let s = sealer(&"k".repeat(32));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = s.seal(a, "AIzaSy-secret");
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("secret"));
        assert_eq!(s.open(a, &sealed).unwrap().expose_secret(), "AIzaSy-secret");
        // A fresh nonce each time: the same key seals differently.
        assert_ne!(sealed, s.seal(a, "AIzaSy-secret"));
        assert_eq!(s.open(b, &sealed).unwrap_err(), SecretError::DoesNotOpen);
        assert_eq!(
            sealer(&"j".repeat(32)).open(a, &sealed).unwrap_err(),
            SecretError::DoesNotOpen
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(s.open(a, &tampered).unwrap_err(), SecretError::DoesNotOpen);
        assert_eq!(s.open(a, "sk-plain").unwrap_err(), SecretError::NotSealed);
        assert_eq!(
            s.open(a, "sealed:v1:AAAA").unwrap_err(),
            SecretError::DoesNotOpen
        );
    }

    #[test]
    fn hints_show_the_tail_only() {
        assert_eq!(hint("sk-abcdef1234"), "…1234");
        assert_eq!(hint("ab"), "…ab");
    }
}

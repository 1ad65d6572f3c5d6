//! Short-lived access tokens: HS256 JWTs signed with a key derived from
//! `CUTROOM_SECRET_KEY`, so the secret itself never signs anything directly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cutroom_entities::Role;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

const ISSUER: &str = "cutroom";

/// What an access token says: who, in which tenant, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The tenant the token acts in.
    pub tid: Uuid,
    /// The role when the token was issued; requests re-check the membership.
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn from_secret(secret: &SecretString) -> Self {
        // A purpose-bound key: a JWT signature can never pass as a storage URL signature.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"cutroom access tokens v1");
        let key = mac.finalize().into_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        // One clock issues and checks these; an expired token is expired.
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    /// Returns the token and its expiry.
    pub fn issue(
        &self,
        user_id: Uuid,
        tenant_id: Uuid,
        role: Role,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let exp = now + ttl;
        let claims = Claims {
            sub: user_id,
            tid: tenant_id,
            role,
            iss: ISSUER.into(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, exp))
    }

    /// Checks signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::errors::ErrorKind;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::from_secret(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn roundtrip() {
        let k = keys(&"x".repeat(32));
        let (user, tenant) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, exp) = k
            .issue(
                user,
                tenant,
                Role::Admin,
                Duration::from_secs(60),
                Utc::now(),
            )
            .unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.tid, claims.role, claims.exp),
            (user, tenant, Role::Admin, exp.timestamp())
        );
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let k = keys(&"x".repeat(32));
        let issued = Utc::now() - chrono::Duration::seconds(120);
        let (token, _) = k
            .issue(
                Uuid::now_v7(),
                Uuid::now_v7(),
                Role::Owner,
                Duration::from_secs(60),
                issued,
            )
            .unwrap();
        assert_eq!(
            *k.verify(&token).unwrap_err().kind(),
            ErrorKind::ExpiredSignature
        );
    }

    #[test]
    fn other_keys_and_tampering_are_rejected() {
        let (a, b) = (keys(&"a".repeat(32)), keys(&"b".repeat(32)));
        let (token, _) = a
            .issue(
                Uuid::now_v7(),
                Uuid::now_v7(),
                Role::Viewer,
                Duration::from_secs(60),
                Utc::now(),
            )
            .unwrap();
        assert!(b.verify(&token).is_err());
        let mut forged = token.clone();
        forged.insert(token.find('.').unwrap() + 3, 'A');
        assert!(a.verify(&forged).is_err());
    }
}

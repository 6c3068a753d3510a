//! Signing and verification of every token the services exchange.
//!
//! Verification is deliberately strict:
//! - the algorithm is pinned to the configured one (an allow-list of one), so `none` in any spelling,
//!   another HMAC size or an asymmetric algorithm all fail;
//! - the key is never taken from the token: `jwk`, `jku`, `x5u`, `x5c` and `crit` headers are refused,
//!   and `kid` must name the current secret or one of the listed previous secrets;
//! - `exp`, `nbf`, `iss`, `aud`, `sub` and `typ` are required; `exp`/`nbf` are checked against the
//!   injected [`Clock`](crate::Clock) with [`JWT_LEEWAY_SECS`] of leeway, and `typ` must be the kind asked
//!   for;
//! - every claim is strictly typed, so a claim of the wrong JSON type makes the token invalid.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::claims::Claims;
use crate::clock::SharedClock;
use crate::config::{JwtSettings, JWT_LEEWAY_SECS};

/// Why a token was refused. Deliberately coarse: clients learn "expired" or "invalid", nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid: {0}")]
    Invalid(&'static str),
}

/// The `kid` of a secret: a short SHA-256 fingerprint, so the header names the key without revealing it.
pub fn kid_for(secret: &[u8]) -> String {
    let digest = Sha256::new_with_prefix(b"jwt-kid:")
        .chain_update(secret)
        .finalize();
    hex::encode(&digest[..8])
}

struct VerifyingKey {
    kid: String,
    key: DecodingKey,
}

/// Signs with the current secret and verifies with it or any listed previous secret.
pub struct TokenCodec {
    header: Header,
    signing: EncodingKey,
    verifying: Vec<VerifyingKey>,
    clock: SharedClock,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCodec")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .field(
                "verifying_kids",
                &self.verifying.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    pub fn new(settings: &JwtSettings, clock: SharedClock) -> Self {
        let current = settings.secret.expose().as_bytes();
        let mut header = Header::new(settings.algorithm);
        header.kid = Some(kid_for(current));

        let mut verifying = vec![VerifyingKey {
            kid: kid_for(current),
            key: DecodingKey::from_secret(current),
        }];
        for previous in &settings.previous_secrets {
            let bytes = previous.expose().as_bytes();
            verifying.push(VerifyingKey {
                kid: kid_for(bytes),
                key: DecodingKey::from_secret(bytes),
            });
        }

        Self {
            header,
            signing: EncodingKey::from_secret(current),
            verifying,
            clock,
            access_ttl_secs: settings.access_ttl_secs,
            refresh_ttl_secs: settings.refresh_ttl_secs,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    pub fn refresh_ttl_secs(&self) -> i64 {
        self.refresh_ttl_secs
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The `kid` new tokens carry.
    pub fn current_kid(&self) -> Option<&str> {
        self.header.kid.as_deref()
    }

    /// Signs claims with the current secret. HMAC signing of serialisable claims does not fail in
    /// practice; the error is still passed up rather than unwrapped.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        encode(&self.header, claims, &self.signing)
    }

    /// Verifies a token of kind `C::KIND`, returning its claims.
    ///
    /// jsonwebtoken parses the header and checks the signature (constant-time HMAC); the claims are
    /// then deserialised once, straight into `C`, and every claim is checked here. (jsonwebtoken's
    /// `decode` would parse the header and the claims twice each: this is the hot path of every
    /// authenticated request.)
    pub fn verify<C: Claims>(&self, token: &str) -> Result<C, TokenError> {
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(TokenError::Invalid("not three segments"));
        };
        let header = decode_header(token).map_err(|_| TokenError::Invalid("malformed header"))?;
        if header.alg != self.header.alg {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        if header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some() {
            return Err(TokenError::Invalid("key material in header"));
        }
        if header.crit.is_some() {
            return Err(TokenError::Invalid("critical header"));
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid("no kid"))?;
        let key = self
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Invalid("unknown kid"))?;

        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let signed = jsonwebtoken::crypto::verify(signature, message, &key.key, self.header.alg)
            .map_err(|_| TokenError::Invalid("malformed signature"))?;
        if !signed {
            return Err(TokenError::Invalid("bad signature"));
        }

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Invalid("malformed payload"))?;
        let claims: C =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid("malformed claims"))?;
        if claims.typ() != C::KIND {
            return Err(TokenError::Invalid("wrong token type"));
        }
        if claims.iss() != self.issuer {
            return Err(TokenError::Invalid("wrong issuer"));
        }
        if claims.aud() != self.audience {
            return Err(TokenError::Invalid("wrong audience"));
        }
        if claims.sub().is_empty() {
            return Err(TokenError::Invalid("empty subject"));
        }
        let now = self.clock.now_secs();
        if claims.nbf() > now + JWT_LEEWAY_SECS {
            return Err(TokenError::Invalid("not yet valid"));
        }
        if claims.exp() <= now - JWT_LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Builds a [`TokenCodec`] for tests from just a secret, with the defaults of the contract.
#[doc(hidden)]
pub fn test_settings(secret: &str) -> JwtSettings {
    JwtSettings {
        secret: crate::config::Secret::new(secret),
        previous_secrets: Vec::new(),
        algorithm: Algorithm::HS256,
        access_ttl_secs: 3600,
        refresh_ttl_secs: 24 * 3600,
        issuer: "auth-service".into(),
        audience: "solicitud-transporte-api".into(),
    }
}

//! Signing and verification of every token the services exchange.
//!
//! Verification is deliberately strict:
//! - the algorithm is pinned per kind of token (an allow-list of one: the configured `JWT_ALGORITHM`
//!   for access tokens; HMAC for refresh and MFA tokens), so `none` in any spelling, another HMAC size,
//!   an HMAC token under a public key ("algorithm confusion") and every other algorithm all fail;
//! - the key is never taken from the token: `jwk`, `jku`, `x5u`, `x5c` and `crit` headers are refused,
//!   and `kid` must name a key of the kind's [`KeyRing`] (the current secret or a listed previous one;
//!   with an asymmetric algorithm, a published public key);
//! - `exp`, `nbf`, `iss`, `aud`, `sub` and `typ` are required; `exp`/`nbf` are checked against the
//!   injected [`Clock`](crate::Clock) with [`JWT_LEEWAY_SECS`] of leeway, and `typ` must be the kind asked
//!   for;
//! - every claim is strictly typed, so a claim of the wrong JSON type makes the token invalid;
//! - a token whose lifetime (`exp - iat`) is longer than any the service issues for its kind (plus
//!   leeway) is refused even with a good signature: defence in depth should the secret leak to a
//!   system that mints tokens of its own.
//!
//! With an asymmetric `JWT_ALGORITHM` (EdDSA, ES256, RS256) the access tokens' keys are not derived from
//! the secret: the auth service installs its signing key and the public keys it publishes
//! ([`TokenCodec::set_access_keys`]), and a backend the public keys of the set it fetched
//! ([`crate::jwks`]), so the key ring of access tokens can change while the service runs.
//!
//! Only access tokens are for backends. Refresh and MFA tokens carry the auth service's own audience
//! (its issuer) and are signed with keys derived from the secret for that purpose alone (HKDF-SHA256,
//! a distinct label per kind; previous secrets derive theirs the same way), so a backend that holds
//! `JWT_SECRET` and checks only signature, `iss` and `aud` can never take one for an access token
//! (RFC 8725 §2.8, §3.12).

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use jsonwebtoken::{decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::claims::{Claims, TokenKind};
use crate::clock::SharedClock;
use crate::config::{JwtSettings, JWT_LEEWAY_SECS, MFA_CHALLENGE_SECS};

/// Why a token was refused. Deliberately coarse: clients learn "expired" or "invalid", nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid: {0}")]
    Invalid(&'static str),
    /// A backend that follows a JWKS and has never fetched one: it cannot tell (503, not 401).
    #[error("no key set held yet: no token can be verified")]
    NoKeys,
}

/// The `kid` of a secret: a short SHA-256 fingerprint, so the header names the key without revealing it.
pub fn kid_for(secret: &[u8]) -> String {
    let digest = Sha256::new_with_prefix(b"jwt-kid:")
        .chain_update(secret)
        .finalize();
    hex::encode(&digest[..8])
}

/// The HKDF-SHA256 `info` label of each kind's key; access tokens use the secret itself, so backends
/// verify them with `JWT_SECRET` as the seed's guide shows.
fn derivation_label(kind: TokenKind) -> Option<&'static [u8]> {
    match kind {
        TokenKind::Access => None,
        TokenKind::Refresh => Some(b"auth-service refresh-token signing key v1"),
        TokenKind::Mfa => Some(b"auth-service mfa-challenge signing key v1"),
    }
}

/// The key a kind of token is signed with under `secret`: the secret, or a key derived from it.
fn key_bytes(secret: &[u8], kind: TokenKind) -> Vec<u8> {
    let Some(label) = derivation_label(kind) else {
        return secret.to_vec();
    };
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's limit of 255 * 32, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, secret).expand(label, &mut okm);
    okm.to_vec()
}

pub use crate::settings::is_hmac;

/// The key a ring signs with: its `kid` goes in the header.
struct SigningKey {
    header: Header,
    key: EncodingKey,
}

/// A key a ring verifies with, found by its `kid`.
struct VerifyingKey {
    kid: String,
    key: DecodingKey,
}

/// The keys of one kind of token: at most one that signs, any number that verify (the signing one,
/// keys being retired, keys published before they sign).
#[derive(Default)]
pub struct KeyRing {
    signing: Option<SigningKey>,
    verifying: Vec<VerifyingKey>,
}

impl KeyRing {
    /// A ring that signs with `signing` (`kid`, key) under `algorithm`, if given, and verifies with
    /// `verifying` (`kid`, key).
    pub fn new(
        algorithm: Algorithm,
        signing: Option<(String, EncodingKey)>,
        verifying: Vec<(String, DecodingKey)>,
    ) -> Self {
        Self {
            signing: signing.map(|(kid, key)| {
                let mut header = Header::new(algorithm);
                header.kid = Some(kid);
                SigningKey { header, key }
            }),
            verifying: verifying
                .into_iter()
                .map(|(kid, key)| VerifyingKey { kid, key })
                .collect(),
        }
    }

    /// The `kid`s this ring verifies.
    pub fn kids(&self) -> Vec<&str> {
        self.verifying.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The ring of an HMAC kind: the current secret (signs and verifies) and the previous ones (verify).
    fn of_secrets(settings: &JwtSettings, kind: TokenKind, algorithm: Algorithm) -> Self {
        let current = key_bytes(settings.secret.expose().as_bytes(), kind);
        let mut verifying = vec![(kid_for(&current), DecodingKey::from_secret(&current))];
        for previous in &settings.previous_secrets {
            let bytes = key_bytes(previous.expose().as_bytes(), kind);
            verifying.push((kid_for(&bytes), DecodingKey::from_secret(&bytes)));
        }
        Self::new(
            algorithm,
            Some((kid_for(&current), EncodingKey::from_secret(&current))),
            verifying,
        )
    }
}

/// Everything about one kind of token: how it is signed, verified and bounded.
struct KindKeys {
    /// The one algorithm tokens of this kind may carry.
    algorithm: Algorithm,
    /// Swapped whole when the keys change (a rotation, a fetched set); read by every sign and verify.
    ring: RwLock<Arc<KeyRing>>,
    audience: String,
    /// The longest `exp - iat` the service issues for this kind.
    max_lifetime_secs: i64,
}

impl KindKeys {
    fn new(algorithm: Algorithm, ring: KeyRing, audience: &str, max_lifetime_secs: i64) -> Self {
        Self {
            algorithm,
            ring: RwLock::new(Arc::new(ring)),
            audience: audience.to_string(),
            max_lifetime_secs,
        }
    }

    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Signs with the current key of each kind and verifies with any key of its ring.
pub struct TokenCodec {
    /// Indexed by [`kind_index`].
    kinds: [KindKeys; 3],
    clock: SharedClock,
    access_ttl_secs: i64,
    refresh_ttl_secs: i64,
    issuer: String,
}

fn kind_index(kind: TokenKind) -> usize {
    match kind {
        TokenKind::Access => 0,
        TokenKind::Refresh => 1,
        TokenKind::Mfa => 2,
    }
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let access = &self.kinds[0];
        let ring = access.ring();
        f.debug_struct("TokenCodec")
            .field("alg", &access.algorithm)
            .field("kid", &self.current_kid())
            .field("verifying_kids", &ring.kids())
            .finish_non_exhaustive()
    }
}

impl TokenCodec {
    /// Refresh and MFA tokens are always HMAC under keys derived from `JWT_SECRET` (the configured
    /// HMAC algorithm, or HS256 when access tokens are asymmetric). Access tokens: the same with an
    /// HMAC `JWT_ALGORITHM`; with an asymmetric one, no key until one is installed
    /// ([`TokenCodec::set_access_keys`]).
    pub fn new(settings: &JwtSettings, clock: SharedClock) -> Self {
        crate::crypto_provider::install();
        let longest_access = settings.access_ttl_secs.max(settings.saphety_ttl_secs);
        let hmac = if is_hmac(settings.algorithm) {
            settings.algorithm
        } else {
            Algorithm::HS256
        };
        let has_secret = !settings.secret.expose().is_empty();
        let secret_ring = |kind| {
            if has_secret {
                KeyRing::of_secrets(settings, kind, hmac)
            } else {
                KeyRing::default()
            }
        };
        let access_ring = if is_hmac(settings.algorithm) {
            secret_ring(TokenKind::Access)
        } else {
            KeyRing::default()
        };
        Self {
            kinds: [
                KindKeys::new(
                    settings.algorithm,
                    access_ring,
                    &settings.audience,
                    longest_access,
                ),
                KindKeys::new(
                    hmac,
                    secret_ring(TokenKind::Refresh),
                    &settings.issuer,
                    settings.refresh_ttl_secs,
                ),
                KindKeys::new(
                    hmac,
                    secret_ring(TokenKind::Mfa),
                    &settings.issuer,
                    MFA_CHALLENGE_SECS,
                ),
            ],
            clock,
            access_ttl_secs: settings.access_ttl_secs,
            refresh_ttl_secs: settings.refresh_ttl_secs,
            issuer: settings.issuer.clone(),
        }
    }

    fn keys(&self, kind: TokenKind) -> &KindKeys {
        &self.kinds[kind_index(kind)]
    }

    /// The algorithm access tokens are signed and verified with (`JWT_ALGORITHM`).
    pub fn access_algorithm(&self) -> Algorithm {
        self.keys(TokenKind::Access).algorithm
    }

    /// Installs the keys of access tokens: the one that signs from now on (the auth service's) and
    /// every public key that verifies (a backend installs a fetched set, without a signing key).
    pub fn set_access_keys(&self, ring: KeyRing) {
        let keys = self.keys(TokenKind::Access);
        *keys.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }

    /// Whether a key with this `kid` verifies access tokens now.
    pub fn knows_access_kid(&self, kid: &str) -> bool {
        self.keys(TokenKind::Access)
            .ring()
            .verifying
            .iter()
            .any(|k| k.kid == kid)
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

    /// The audience of access tokens: the backends'.
    pub fn audience(&self) -> &str {
        &self.keys(TokenKind::Access).audience
    }

    /// The audience a kind of token carries: the backends' for access tokens, the auth service's own
    /// (its issuer) for refresh and MFA tokens.
    pub fn audience_for(&self, kind: TokenKind) -> &str {
        &self.keys(kind).audience
    }

    /// The `kid` new access tokens carry (none while no signing key is installed).
    pub fn current_kid(&self) -> Option<String> {
        self.keys(TokenKind::Access)
            .ring()
            .signing
            .as_ref()
            .and_then(|s| s.header.kid.clone())
    }

    /// Signs claims with the current key for their kind. Signing serialisable claims does not fail in
    /// practice (but for an asymmetric access key not yet installed); the error is passed up.
    pub fn sign<C: Claims + Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign_as(C::KIND, claims)
    }

    /// Signs claims of `kind` that extend its claims type (gettoken's access token carries more).
    pub fn sign_as<C: Serialize>(
        &self,
        kind: TokenKind,
        claims: &C,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let ring = self.keys(kind).ring();
        let signing = ring.signing.as_ref().ok_or_else(|| {
            jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)
        })?;
        encode(&signing.header, claims, &signing.key)
    }

    /// Signs an access token of the token endpoint: RFC 9068's header `typ: at+jwt`, the key and
    /// algorithm of every access token.
    pub fn sign_at_jwt<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        let ring = self.keys(TokenKind::Access).ring();
        let signing = ring.signing.as_ref().ok_or_else(|| {
            jsonwebtoken::errors::Error::from(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)
        })?;
        let mut header = signing.header.clone();
        header.typ = Some("at+jwt".into());
        encode(&header, claims, &signing.key)
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
        let keys = self.keys(C::KIND);
        let header = decode_header(token).map_err(|_| TokenError::Invalid("malformed header"))?;
        if header.alg != keys.algorithm {
            return Err(TokenError::Invalid("algorithm not allowed"));
        }
        if header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some() {
            return Err(TokenError::Invalid("key material in header"));
        }
        if header.crit.is_some() {
            return Err(TokenError::Invalid("critical header"));
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid("no kid"))?;
        let ring = keys.ring();
        let key = ring
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Invalid(UNKNOWN_KID))?;

        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        let signed = jsonwebtoken::crypto::verify(signature, message, &key.key, keys.algorithm)
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
        if claims.aud() != keys.audience {
            return Err(TokenError::Invalid("wrong audience"));
        }
        if claims.sub().is_empty() {
            return Err(TokenError::Invalid("empty subject"));
        }
        if !claims.well_formed() {
            return Err(TokenError::Invalid("claims that do not hang together"));
        }
        let now = self.clock.now_secs();
        if claims.nbf() > now + JWT_LEEWAY_SECS {
            return Err(TokenError::Invalid("not yet valid"));
        }
        if claims.exp() <= now - JWT_LEEWAY_SECS {
            return Err(TokenError::Expired);
        }
        if claims.exp().saturating_sub(claims.iat()) > keys.max_lifetime_secs + JWT_LEEWAY_SECS {
            return Err(TokenError::Invalid("lifetime longer than issued"));
        }
        Ok(claims)
    }
}

/// Why [`TokenCodec::verify`] refused a token whose `kid` no key of the ring has: a backend following
/// a JWKS fetches the set again on it ([`crate::jwks`]), at most once per few seconds.
pub const UNKNOWN_KID: &str = "unknown kid";

/// Builds a [`TokenCodec`] for tests from just a secret, with the defaults of the contract.
#[doc(hidden)]
pub fn test_settings(secret: &str) -> JwtSettings {
    JwtSettings {
        secret: crate::config::Secret::new(secret),
        previous_secrets: Vec::new(),
        algorithm: Algorithm::HS256,
        access_ttl_secs: 3600,
        refresh_ttl_secs: 24 * 3600,
        saphety_ttl_secs: 2 * 3600,
        issuer: "auth-service".into(),
        audience: "solicitud-transporte-api".into(),
    }
}

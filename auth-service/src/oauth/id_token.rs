//! ID tokens (OIDC Core 1.0 §2) and the claims `userinfo` answers (§5.3), per scope (§5.4).
//!
//! An ID token is signed with the key of its client's `id_token_signed_response_alg` (RS256 unless the
//! client asked for ES256 or EdDSA), from the same store of keys as asymmetric access tokens, and
//! published in the same JWKS, whatever algorithm signs the access tokens: an HS256 deployment still
//! gives its relying parties ID tokens they verify with public keys alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::signing::SigningKeys;
use crate::users::User;

/// The algorithms an ID token may be signed with; RS256 is OIDC's default.
pub const ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// The claims of an ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    /// The user id, as in access tokens.
    pub sub: String,
    /// The client id.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// When the user last proved who they are (the browser session's start).
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The browser session (OIDC Front-Channel/Back-Channel Logout's `sid`).
    pub sid: String,
    /// RFC 8176: `pwd`, and `otp` and `mfa` after a second factor.
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(flatten)]
    pub profile: Profile,
}

/// The claims of the `profile` and `email` scopes (and the contract's `rol`, with `profile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Always false: this service does not verify addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Whether a space-separated scope names `wanted`.
pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

impl Profile {
    /// What `scope` lets a client see of `user`.
    pub fn of(user: &User, scope: &str) -> Self {
        let profile = has_scope(scope, "profile");
        let email = has_scope(scope, "email");
        Self {
            preferred_username: profile.then(|| user.username.as_str().to_string()),
            rol: profile.then(|| user.rol.as_str().to_string()),
            email: email.then(|| user.email.as_str().to_string()),
            email_verified: email.then_some(false),
        }
    }
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, with the hash of the ID
/// token's algorithm (SHA-256 for RS256 and ES256; SHA-512 for EdDSA with Ed25519).
pub fn at_hash(algorithm: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        Algorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Why an ID token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("no signing key for {0} (a client asks for an algorithm this deployment has no key of)")]
    NoKey(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Signs `claims` (an ID token's with `typ` `JWT`, a logout token's with `logout+jwt`) with the
/// current key of `alg` (a registered `id_token_signed_response_alg`).
pub fn sign<C: Serialize>(
    keys: &SigningKeys,
    alg: &str,
    typ: &str,
    claims: &C,
) -> Result<String, IdTokenError> {
    let algorithm = crate::signing::alg_of(alg).ok_or_else(|| IdTokenError::NoKey(alg.to_string()))?;
    let signer = keys
        .signer(algorithm)
        .ok_or_else(|| IdTokenError::NoKey(alg.to_string()))?;
    let mut header = Header::new(algorithm);
    header.kid = Some(signer.kid.clone());
    header.typ = Some(typ.into());
    jsonwebtoken::encode(&header, claims, &signer.key).map_err(|e| IdTokenError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OIDC Core's own example (§A.3/A.4 access token and its at_hash, RS256).
        assert_eq!(
            at_hash(Algorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(Algorithm::ES256, "x").len(), 22);
        assert_eq!(at_hash(Algorithm::EdDSA, "x").len(), 43);
    }

    #[test]
    fn the_scopes_decide_the_profile_claims() {
        let scope = "openid";
        assert!(!has_scope(scope, "profile") && has_scope("openid profile", "profile"));
        assert!(!has_scope("openidx", "openid"));
    }
}

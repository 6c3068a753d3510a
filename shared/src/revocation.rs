//! The revocation seam: how a backend that verifies access tokens locally learns that a verified token
//! was revoked (a logout, a logout-all, a rotation reuse, a disabled user) before it expires.
//!
//! A [`RevocationCheck`] is asked about the claims of a token whose signature and claims already
//! passed, by [`crate::http::live_access_claims`]; it answers that the token stands, or is revoked
//! (401 `TOKEN_REVOKED`), or that it cannot tell (503, fail closed). What stands behind it is the
//! deployment's choice:
//!
//! - [`SignatureOnly`]: no revocation source; every verified token stands until it expires. What a
//!   separate `solicitud-service` process runs today.
//! - the auth service's own session store, when both run in one process (the `all-in-one` binary):
//!   a logout is honoured by the next request.
//! - a follower of the store's revocation feed (a later issue), for separate processes.

use std::sync::Arc;

use async_trait::async_trait;

use crate::claims::AccessClaims;
use crate::error::ApiError;
use crate::store::StoreError;

/// Why a verified access token is not honoured.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// Its session, its `jti`, or every session of its user was revoked (or the user is gone).
    #[error("revoked")]
    Revoked,
    /// The revocation source did not answer: fail closed.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl From<RevocationError> for ApiError {
    fn from(e: RevocationError) -> Self {
        match e {
            RevocationError::Revoked => ApiError::TokenRevoked,
            RevocationError::Unavailable(e) => ApiError::from(e),
        }
    }
}

/// Asks whether a verified access token still stands.
#[async_trait]
pub trait RevocationCheck: Send + Sync + 'static {
    /// `Ok` when nothing revoked the token's `jti`, its session (`sid`) or its user's sessions.
    async fn check(&self, claims: &AccessClaims) -> Result<(), RevocationError>;
}

/// A revocation check as the state holds it.
pub type SharedRevocationCheck = Arc<dyn RevocationCheck>;

/// No revocation source: a token stands until it expires (signature and claims only).
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureOnly;

#[async_trait]
impl RevocationCheck for SignatureOnly {
    async fn check(&self, _claims: &AccessClaims) -> Result<(), RevocationError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_maps_to_the_contracts_error() {
        assert_eq!(
            ApiError::from(RevocationError::Revoked).catalogue().2,
            "TOKEN_REVOKED"
        );
        let down = RevocationError::Unavailable(StoreError::Unavailable("timed out".into()));
        assert_eq!(ApiError::from(down).catalogue().2, "SERVICE_UNAVAILABLE");
    }
}

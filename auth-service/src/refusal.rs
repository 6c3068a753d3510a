//! What the auth service's use cases refuse, said in the domain's words: no status, no Spanish
//! sentence. Each endpoint maps a refusal to its own answer at the edge (`routes/refusal.rs` for the
//! envelope, `routes/saphety.rs` for the Saphety one), in one place each.

use shared::{TokenError, TokenKind};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The client IP's ceiling, or the account's lock; `retry_after_secs` is what its window has left.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Limited { retry_after_secs: u64 },
    /// Unknown user, disabled user, wrong password, or a condition of the endpoint the user fails.
    #[error("wrong credentials")]
    BadCredentials,
    /// Refused before hashing: longer passwords are never truncated.
    #[error("password longer than {max} characters")]
    PasswordTooLong { max: usize },
    /// A wrong, reused or expired TOTP or recovery code, or a spent challenge.
    #[error("wrong, reused or expired code")]
    BadCode,
    #[error("MFA is already active")]
    MfaAlreadyActive,
    #[error("MFA is not active")]
    MfaNotActive,
    #[error("no MFA setup is pending")]
    MfaNotPending,
    /// A token that does not verify as the kind expected.
    #[error("{0:?} token refused: {1}")]
    Token(TokenKind, TokenError),
    /// The session or the user behind a token is gone.
    #[error("revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a broken dependency (a secret that cannot be opened): a 500, never the client's fault.
    #[error("{0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl Refusal {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Refusal::Internal(Box::new(e))
    }
}

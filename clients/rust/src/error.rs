//! What can go wrong, one variant per outcome a caller may want to handle differently. No variant
//! carries a token or a password; `mensaje` and `codigo` are the service's own words from its error
//! envelope.

use std::sync::Arc;

/// An authentication step or a call failed. Cheap to clone: every task that shared one refresh gets
/// the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wrong user or password (422 `INVALID_CREDENTIALS`).
    #[error("invalid credentials: {mensaje}")]
    InvalidCredentials { mensaje: String },

    /// The password was right and the user has MFA on, and the client has no MFA callback: finish
    /// with [`Client::verify_mfa`](crate::Client::verify_mfa).
    #[error("this user has MFA on: call verify_mfa(code), or give the client an mfa_code callback")]
    MfaRequired,

    /// A wrong, reused or expired MFA code (422 `MFA_INVALID`). The MFA step stays pending, so
    /// `verify_mfa` can be called again with another code.
    #[error("invalid MFA code: {mensaje}")]
    MfaInvalid { mensaje: String },

    /// `verify_mfa` without a login that asked for a code.
    #[error("no MFA step is pending: call login() first")]
    NoMfaPending,

    /// Too many attempts (429); `retry_after` is the service's `Retry-After`, in seconds.
    #[error("too many attempts{}", retry_hint(*retry_after))]
    RateLimited {
        retry_after: Option<u64>,
        codigo: Option<String>,
    },

    /// The session is over (`codigo` says why: `TOKEN_REVOKED` after a logout elsewhere or a reuse,
    /// `TOKEN_EXPIRED`; `None` when there was no session) and the client holds no credentials to log
    /// in again. The stored session has been cleared.
    #[error("session over ({}) and no credentials to log in again", codigo.as_deref().unwrap_or("no session"))]
    SessionExpired { codigo: Option<String> },

    /// Tokens would travel over plain HTTP to another machine; `allow_insecure_http(true)` accepts that
    /// (never in production).
    #[error("refusing to send tokens over plain HTTP to {host}: use https, or allow_insecure_http(true)")]
    InsecureHttp { host: String },

    /// The base URL is not an `http(s)` URL with a host.
    #[error("the base URL must be an http(s) URL with a host, got {0:?}")]
    InvalidUrl(String),

    /// The request did not get an answer (connection refused or lost, timeout), or the client could
    /// not be built.
    #[error("HTTP request failed: {0}")]
    Http(#[source] Arc<reqwest::Error>),

    /// The body given to `post` or `request` is not serialisable as JSON.
    #[error("the request body is not serialisable as JSON: {0}")]
    Body(#[source] Arc<serde_json::Error>),

    /// The service answered an authentication step with something else: its status, and the
    /// envelope's `codigo` and `mensaje` when it had them.
    #[error("the service answered {status}: {mensaje}{}", codigo_hint(codigo.as_deref()))]
    Api {
        status: u16,
        codigo: Option<String>,
        mensaje: String,
    },

    /// A refresh ended without an outcome: no Tokio runtime to run it on, or the runtime is shutting
    /// down.
    #[error("the refresh was interrupted (no Tokio runtime, or it is shutting down)")]
    Interrupted,
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::Http(Arc::new(e))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Body(Arc::new(e))
    }
}

fn retry_hint(retry_after: Option<u64>) -> String {
    retry_after
        .map(|s| format!(": retry after {s} s"))
        .unwrap_or_default()
}

fn codigo_hint(codigo: Option<&str>) -> String {
    codigo.map(|c| format!(" ({c})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do_next() {
        assert_eq!(
            Error::RateLimited {
                retry_after: Some(30),
                codigo: None
            }
            .to_string(),
            "too many attempts: retry after 30 s"
        );
        assert_eq!(
            Error::RateLimited {
                retry_after: None,
                codigo: None
            }
            .to_string(),
            "too many attempts"
        );
        assert_eq!(
            Error::SessionExpired {
                codigo: Some("TOKEN_REVOKED".into())
            }
            .to_string(),
            "session over (TOKEN_REVOKED) and no credentials to log in again"
        );
        assert_eq!(
            Error::SessionExpired { codigo: None }.to_string(),
            "session over (no session) and no credentials to log in again"
        );
        assert_eq!(
            Error::Api {
                status: 503,
                codigo: Some("SERVICE_UNAVAILABLE".into()),
                mensaje: "x".into()
            }
            .to_string(),
            "the service answered 503: x (SERVICE_UNAVAILABLE)"
        );
        assert!(Error::InsecureHttp {
            host: "api.example.com".into()
        }
        .to_string()
        .contains("allow_insecure_http(true)"));
    }
}

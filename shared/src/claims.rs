//! The claims of the three kinds of token the auth service issues.
//!
//! Every kind carries `typ`, and verification insists on the expected one, so a refresh or MFA
//! challenge token is never accepted where an access token is required (and the other way round).
//! All fields are required and strictly typed: a claim of the wrong JSON type fails to deserialise
//! and the token is invalid.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a token is for; the `typ` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
    Mfa,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Mfa => "mfa",
        }
    }
}

/// A user's role. Only these two exist; anything else in a token makes it invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rol {
    Admin,
    Usuario,
}

impl Rol {
    pub fn parse(value: &str) -> Option<Rol> {
        match value {
            "admin" => Some(Rol::Admin),
            "usuario" => Some(Rol::Usuario),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rol::Admin => "admin",
            Rol::Usuario => "usuario",
        }
    }
}

/// The claims of a short-lived access token; what backends read to authorise a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessClaims {
    /// The user id, as a string.
    pub sub: String,
    pub jti: String,
    /// The session (one login and every rotation descending from it).
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub typ: TokenKind,
    pub username: String,
    pub email: String,
    pub rol: Rol,
}

/// The claims of a refresh token: no profile, only what rotation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub sub: String,
    pub jti: String,
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub typ: TokenKind,
}

/// The claims of the five-minute challenge a user with MFA gets instead of tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaClaims {
    pub sub: String,
    pub jti: String,
    /// The credential fingerprint the password step proved: the challenge is good only while the
    /// user still has that credential (a new password, a reset, voids it).
    pub fp: String,
    /// The user's logout-all cut-off when the challenge was issued (ms; 0: none): the login it
    /// completes starts a session only if no session of the user was ended since.
    pub co: i64,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub typ: TokenKind,
}

/// What verification needs to know about any kind of claims.
pub trait Claims: DeserializeOwned {
    /// The `typ` this kind of claims must carry.
    const KIND: TokenKind;
    fn typ(&self) -> TokenKind;
    fn exp(&self) -> i64;
    fn nbf(&self) -> i64;
    fn iat(&self) -> i64;
    fn sub(&self) -> &str;
    fn iss(&self) -> &str;
    fn aud(&self) -> &str;
}

macro_rules! impl_claims {
    ($ty:ty, $kind:expr) => {
        impl Claims for $ty {
            const KIND: TokenKind = $kind;
            fn typ(&self) -> TokenKind {
                self.typ
            }
            fn exp(&self) -> i64 {
                self.exp
            }
            fn nbf(&self) -> i64 {
                self.nbf
            }
            fn iat(&self) -> i64 {
                self.iat
            }
            fn sub(&self) -> &str {
                &self.sub
            }
            fn iss(&self) -> &str {
                &self.iss
            }
            fn aud(&self) -> &str {
                &self.aud
            }
        }
    };
}

impl_claims!(AccessClaims, TokenKind::Access);
impl_claims!(RefreshClaims, TokenKind::Refresh);
impl_claims!(MfaClaims, TokenKind::Mfa);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rol_parses_only_the_two_roles() {
        assert_eq!(Rol::parse("admin"), Some(Rol::Admin));
        assert_eq!(Rol::parse("usuario"), Some(Rol::Usuario));
        assert_eq!(Rol::parse("Admin"), None);
        assert_eq!(Rol::parse("root"), None);
    }

    #[test]
    fn token_kind_is_written_in_lowercase() {
        assert_eq!(
            serde_json::to_string(&TokenKind::Refresh).ok().as_deref(),
            Some("\"refresh\"")
        );
        assert_eq!(TokenKind::Mfa.as_str(), "mfa");
    }
}

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
///
/// A person's token (every token of the seed's endpoints) carries `sid`, `username`, `email` and
/// `rol`. A machine client's token (`client_credentials` at `/oauth2/token`, RFC 9068) carries none of
/// them: its `sub` is its `client_id`, and its `scope` says what it may do. Tokens of the token
/// endpoint carry `client_id` and `scope` in both cases. Anything in between (a `rol` without a
/// `username`, a `sub` that is not the `client_id` of a token without `rol`) is refused at
/// verification ([`Claims::well_formed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessClaims {
    /// The user id, as a string; a machine client's `client_id`.
    pub sub: String,
    pub jti: String,
    /// The session (one login and every rotation descending from it); none in a client's token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub typ: TokenKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    /// A person's role; none in a client's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rol: Option<Rol>,
    /// The OAuth 2.0 client the token was issued to (RFC 9068 §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Space-separated scopes (RFC 9068 §2.2.3); none in the seed's tokens, which keep the role rules
    /// alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Who an access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    Person { username: &'a str, rol: Rol },
    Client { client_id: &'a str },
}

impl AccessClaims {
    /// The person or the machine client behind the token (a verified token is always one of them).
    pub fn principal(&self) -> Principal<'_> {
        match self.rol {
            Some(rol) => Principal::Person {
                username: &self.username,
                rol,
            },
            None => Principal::Client { client_id: &self.sub },
        }
    }

    /// Whether the token carries `scope` (space-separated list); `None` when it carries no `scope`
    /// claim at all (the seed's tokens).
    pub fn has_scope(&self, scope: &str) -> Option<bool> {
        self.scope
            .as_deref()
            .map(|s| s.split(' ').any(|granted| granted == scope))
    }
}

/// The claims of a refresh token: no profile, only what rotation needs.
///
/// One issued at `/oauth2/token` is bound to its client: it carries the `client_id` and the `scope`
/// its access tokens get, and is refreshed only there, by that client; the seed's (`/auth/login`)
/// carry neither and are refreshed only at `/auth/refresh`.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
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
    /// Whether the claims hang together beyond their types (checked after the signature).
    fn well_formed(&self) -> bool {
        true
    }
}

macro_rules! impl_claims {
    ($ty:ty, $kind:expr $(, $extra:item)*) => {
        impl Claims for $ty {
            const KIND: TokenKind = $kind;
            $($extra)*
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

impl_claims!(
    AccessClaims,
    TokenKind::Access,
    /// A person's token has its session and profile; a client's has none of them, and its `sub` is
    /// its `client_id`; a `scope` is one or more names of printable ASCII, one space apart.
    fn well_formed(&self) -> bool {
        let scope_ok = self.scope.as_deref().is_none_or(|s| {
            !s.is_empty()
                && s.split(' ')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
        });
        let person = self.rol.is_some() && !self.sid.is_empty() && !self.username.is_empty();
        let client = self.rol.is_none()
            && self.sid.is_empty()
            && self.username.is_empty()
            && self.email.is_empty()
            && self.scope.is_some()
            && self.client_id.as_deref() == Some(self.sub.as_str());
        scope_ok && (person || client)
    }
);
impl_claims!(RefreshClaims, TokenKind::Refresh);
impl_claims!(MfaClaims, TokenKind::Mfa);

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> AccessClaims {
        AccessClaims {
            sub: "1".into(),
            jti: "j".into(),
            sid: "s".into(),
            iat: 0,
            nbf: 0,
            exp: 60,
            iss: "i".into(),
            aud: "a".into(),
            typ: TokenKind::Access,
            username: "ana".into(),
            email: "ana@example.com".into(),
            rol: Some(Rol::Usuario),
            client_id: None,
            scope: None,
        }
    }

    #[test]
    fn an_access_token_is_a_persons_or_a_clients_and_nothing_in_between() {
        let client = AccessClaims {
            sub: "billing".into(),
            sid: String::new(),
            username: String::new(),
            email: String::new(),
            rol: None,
            client_id: Some("billing".into()),
            scope: Some("solicitud:read".into()),
            ..person()
        };
        assert!(person().well_formed() && client.well_formed());
        assert_eq!(client.principal(), Principal::Client { client_id: "billing" });
        assert_eq!(client.has_scope("solicitud:read"), Some(true));
        assert_eq!(client.has_scope("solicitud:write"), Some(false));
        assert_eq!(person().has_scope("solicitud:read"), None);
        for bad in [
            AccessClaims {
                rol: None,
                ..person()
            },
            AccessClaims {
                sid: String::new(),
                ..person()
            },
            AccessClaims {
                username: String::new(),
                ..person()
            },
            AccessClaims {
                sub: "other".into(),
                ..client.clone()
            },
            AccessClaims {
                scope: None,
                ..client.clone()
            },
            AccessClaims {
                username: "ana".into(),
                ..client.clone()
            },
            AccessClaims {
                scope: Some(String::new()),
                ..person()
            },
            AccessClaims {
                scope: Some("a  b".into()),
                ..person()
            },
        ] {
            assert!(!bad.well_formed(), "{bad:?}");
        }
        // The seed's token, read as JSON: every person claim present, no scope.
        let seed = serde_json::to_value(person()).unwrap();
        assert!(seed.get("scope").is_none() && seed.get("client_id").is_none());
        assert_eq!(seed["rol"], "usuario");
    }

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

//! What the auth service's use cases refuse, said in the domain's words: no status, no Spanish
//! sentence. Each endpoint maps a refusal to its own answer at the edge (`routes/refusal.rs` for the
//! envelope, `routes/saphety.rs` for the Saphety one), in one place each.

use shared::{TokenError, TokenKind};

use crate::password_policy::Rule;
use crate::store::{StoreError, Taken};

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
    /// A correct password of a user with MFA on, and no code where the code comes with the password
    /// (gettoken's `otp`).
    #[error("a second factor is required")]
    SecondFactorRequired,
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
    /// A valid token whose user may not do this.
    #[error("forbidden")]
    Forbidden,
    /// No user with that id.
    #[error("no such user")]
    UnknownUser,
    /// A username, e-mail or id already someone else's.
    #[error("{0:?} already taken")]
    Taken(Taken),
    /// A new password (in `field`) that breaks the policy.
    #[error("the new password {rule}")]
    WeakPassword { field: &'static str, rule: Rule },
    /// A field that is well-formed JSON but breaks one of the domain's rules (named in the answer).
    #[error("bad {}: {:?}", .0.field(), .0)]
    Invalid(FieldRule),
    /// The change would leave no active admin.
    #[error("the last active admin")]
    LastAdmin,
    /// An admin acting on their own password through the admin API (their own goes through
    /// `POST /auth/password`, with the current one).
    #[error("an admin's own password, through the admin API")]
    OwnPasswordThroughAdmin,
    /// No OAuth client with that `client_id`.
    #[error("no such client")]
    UnknownClient,
    /// A `client_id` already registered.
    #[error("client_id already taken")]
    ClientIdTaken,
    /// A secret asked for a public client, which has none.
    #[error("a public client has no secret")]
    PublicClient,
    /// Passkeys are off: no `WEBAUTHN_RP_ID`, nor a `JWT_ISSUER` URL to take one from.
    #[error("passkeys are off")]
    PasskeysOff,
    /// A passkey registration (or its name) that cannot be accepted.
    #[error("passkey refused: {0:?}")]
    BadPasskey(PasskeyProblem),
    /// The user holds the most passkeys allowed.
    #[error("at most {max} passkeys")]
    TooManyPasskeys { max: usize },
    /// No passkey of this user with that id.
    #[error("no such passkey")]
    UnknownPasskey,
    /// Removing the account's last second factor needs the password, and none was given.
    #[error("the password is required")]
    PasswordRequired,
    /// A set-password token that is unknown, used, replaced or expired.
    #[error("set-password token refused")]
    BadResetToken,
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

/// Why a passkey registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyProblem {
    /// Not a `RegistrationResponseJSON`.
    Unreadable,
    /// Its challenge names no live registration of this user (expired, used, or another's).
    UnknownCeremony,
    /// The ceremony's checks failed (origin, RP ID, flags, algorithm, attestation).
    Refused,
    /// That credential is registered already.
    AlreadyRegistered,
    /// The name is too long or has control characters.
    Name,
}

/// A rule a field broke: what the domain refuses, with no sentence; each edge words it (the
/// envelope's `detalle` in `routes/refusal.rs`, the operators' command line in `operator.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRule {
    /// A new username with a character outside ASCII.
    UsernameAscii,
    /// A new username that is not 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    UsernameShape,
    /// A new e-mail with a character outside ASCII.
    EmailAscii,
    /// Not a plausible e-mail address.
    EmailShape,
    /// A virtual operator that is blank, over 64 characters or has a control character.
    VirtualOperator,
    /// A `client_id` that is not 1 to 64 letters, digits, `-`, `.` or `_`.
    ClientId,
    /// A `client_id` of digits only (those are user ids).
    ClientIdDigits,
    /// A redirect or post-logout redirect URI (`field`) that breaks `why`.
    RedirectUri {
        field: &'static str,
        uri: String,
        why: UriRule,
    },
    /// A back-channel logout URI that breaks `why`.
    BackchannelUri { uri: String, why: UriRule },
    /// A value of `field` that is none of `allowed`.
    OneOf {
        field: &'static str,
        value: String,
        allowed: Vec<&'static str>,
    },
    /// No `client_name` (1 to 100 characters).
    ClientName,
    /// `grant_types` empty.
    GrantTypesEmpty,
    /// A grant type listed twice.
    GrantTwice(String),
    /// No scope.
    ScopeEmpty,
    /// `client_credentials` on a public client.
    PublicClientGrant,
    /// `authorization_code` without a redirect URI.
    RedirectUrisRequired,
    /// `client_secret_hash` (or `active`) outside `CLIENTS_FILE`.
    SecretHashInFileOnly,
    /// A confidential client made public or the reverse.
    ClientTypeChange,
    /// `keep_previous_seconds` past its bound.
    KeepPrevious { max: i64 },
    /// A `rol` that is neither `admin` nor `usuario`.
    Rol(String),
    /// A password that could not be read from the terminal.
    PasswordEntry(String),
}

/// How a URI broke its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriRule {
    /// Not of the shape the pattern (and the OpenAPI document) says.
    Shape,
    NotAbsolute,
    Fragment,
    /// `http` on a host that is not loopback.
    HttpNotLoopback,
    /// `javascript`, `data`, `file`, `vbscript`.
    SchemeRefused,
    /// Another scheme without a dot (not a native app's private-use one).
    Scheme,
    /// A back-channel URI over https (this build posts over http only).
    BackchannelHttps,
    /// A back-channel URI of another scheme.
    BackchannelScheme,
    /// A back-channel URI for a public client (OIDC Back-Channel Logout §2.2: confidential only).
    BackchannelPublic,
}

impl FieldRule {
    /// The field it concerns.
    pub fn field(&self) -> &'static str {
        match self {
            FieldRule::UsernameAscii | FieldRule::UsernameShape => "username",
            FieldRule::EmailAscii | FieldRule::EmailShape => "email",
            FieldRule::VirtualOperator => "virtual_operator",
            FieldRule::ClientId | FieldRule::ClientIdDigits => "client_id",
            FieldRule::RedirectUri { field, .. } | FieldRule::OneOf { field, .. } => field,
            FieldRule::BackchannelUri { .. } => "backchannel_logout_uri",
            FieldRule::ClientName => "client_name",
            FieldRule::GrantTypesEmpty | FieldRule::GrantTwice(_) | FieldRule::PublicClientGrant => {
                "grant_types"
            }
            FieldRule::ScopeEmpty => "scope",
            FieldRule::RedirectUrisRequired => "redirect_uris",
            FieldRule::SecretHashInFileOnly => "client_secret_hash",
            FieldRule::ClientTypeChange => "token_endpoint_auth_method",
            FieldRule::KeepPrevious { .. } => "keep_previous_seconds",
            FieldRule::Rol(_) => "rol",
            FieldRule::PasswordEntry(_) => "password",
        }
    }
}

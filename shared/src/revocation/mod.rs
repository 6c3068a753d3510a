//! The revocation seam: how a backend that verifies access tokens locally learns that a verified token
//! was revoked (a logout, a logout-all, a rotation reuse, a disabled user) before it expires.
//!
//! A [`RevocationCheck`] is asked about the claims of a token whose signature and claims already
//! passed, by [`crate::http::live_access_claims`]; it answers that the token stands, or is revoked
//! (401 `TOKEN_REVOKED`), or that it cannot tell (503, fail closed). What stands behind it is the
//! deployment's choice:
//!
//! - [`SignatureOnly`]: no revocation source; every verified token stands until it expires (a backend
//!   with the embedded store, which says so at start).
//! - the auth service's own session store, when both run in one process (the `all-in-one` binary):
//!   a logout is honoured by the next request.
//! - [`feed::RevocationFeed`], for separate processes: the auth service appends every revocation to a
//!   Redis Stream, the revocation feed ([`feed_key`]), in the same atomic step that revokes; the
//!   follower keeps the revocations still in force in memory ([`deny::DenySet`]), so refusing a
//!   logged-out token costs a hash lookup, not a call to the auth service.
//!
//! The entry format ([`FeedEntry`], [`EntryId`]) is what the auth service writes and any backend, in
//! any language, reads (docs/integrating.md documents it for Python).
//!
//! An entry of the feed is a stream entry with these fields (all values are text):
//!
//! | field | meaning |
//! |---|---|
//! | `kind` | `sid` (a session), `sub` (every session of a user up to a cut-off) or `jti` (one access token) |
//! | `value` | the session id, the user id or the token id, as in the access token's `sid`, `sub`, `jti` |
//! | `cutoff` | `sub` only: ms since the epoch; tokens of that user with `iat * 1000 <= cutoff` are revoked |
//! | `until` | ms since the epoch after which the entry no longer matters (every token it covers has expired) |
//!
//! The stream is trimmed by time: entries whose id is older than the longest access-token life (plus
//! leeway) are removed as new ones are added, and the whole key expires after that long without a
//! revocation. Reading it from the start therefore yields exactly the revocations still in force.

pub mod deny;
pub mod feed;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::claims::AccessClaims;
use crate::error::ApiError;
use crate::store::StoreError;

/// The key of the feed under `REDIS_KEY_PREFIX` (the prefix comes first, as for every key).
pub const FEED_KEY: &str = "auth:revocations";

/// The feed's full key for a deployment's `REDIS_KEY_PREFIX`. The auth service builds it through its
/// key module, which calls this, so writer and readers cannot disagree.
pub fn feed_key(prefix: &str) -> String {
    format!("{prefix}{FEED_KEY}")
}

/// Why a verified access token is not honoured.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// Its session, its `jti`, or every session of its user was revoked (or the user is gone).
    #[error("revoked")]
    Revoked,
    /// The revocation source did not answer (or its feed is stale past its bound): fail closed.
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

/// Asks whether a verified access token still stands. Called on every authenticated request: an
/// implementation must answer quickly (the feed's is a few hash lookups; one backed by a store in
/// the same process awaits it).
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

/// What the feed's follower decides about verified claims, without awaiting
/// ([`feed::RevocationFeed::verdict`]); its [`RevocationCheck`] answer follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not revoked, as far as the feed tells within its staleness bound.
    Valid,
    /// Revoked: 401 TOKEN_REVOKED.
    Revoked,
    /// The feed is stale past its bound, or was never read: 503, fail closed.
    Unavailable,
}

impl From<Verdict> for Result<(), RevocationError> {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Valid => Ok(()),
            Verdict::Revoked => Err(RevocationError::Revoked),
            Verdict::Unavailable => Err(RevocationError::Unavailable(StoreError::Unavailable(
                "revocation feed is stale past its bound".into(),
            ))),
        }
    }
}

/// A stream entry id, `<ms>-<seq>`: ordered as Redis orders them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// Milliseconds since the epoch (the writer's clock) when the entry was added.
    pub ms: u64,
    pub seq: u64,
}

impl EntryId {
    /// Before every entry: reading after it reads the whole stream.
    pub const ZERO: EntryId = EntryId { ms: 0, seq: 0 };
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for EntryId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a stream entry id");
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Ok(EntryId {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// What an entry revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Every token of a session (`sid`): logout, refresh-token reuse, a changed credential.
    Session(String),
    /// Every token of a user (`sub`) issued at or before `cutoff_ms`: logout-all, a password changed or
    /// a user disabled in `USERS_FILE`.
    User { sub: String, cutoff_ms: i64 },
    /// One access token (`jti`).
    Token(String),
}

/// One entry of the feed: what it revokes, and until when that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub revoked: Revoked,
    /// Ms since the epoch after which every token the entry covers has expired.
    pub until_ms: i64,
}

impl FeedEntry {
    /// The stream fields of this entry, in the documented format (see the module doc).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = match &self.revoked {
            Revoked::Session(sid) => vec![("kind", "sid".to_string()), ("value", sid.clone())],
            Revoked::User { sub, cutoff_ms } => vec![
                ("kind", "sub".to_string()),
                ("value", sub.clone()),
                ("cutoff", cutoff_ms.to_string()),
            ],
            Revoked::Token(jti) => vec![("kind", "jti".to_string()), ("value", jti.clone())],
        };
        fields.push(("until", self.until_ms.to_string()));
        fields
    }

    /// Parses an entry's fields. Unknown fields are ignored (a later writer may add some); a missing
    /// or malformed one is an error naming it.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let (mut kind, mut value, mut cutoff, mut until) = (None, None, None, None);
        for (name, v) in fields {
            match name {
                "kind" => kind = Some(v),
                "value" => value = Some(v),
                "cutoff" => cutoff = Some(v),
                "until" => until = Some(v),
                _ => {}
            }
        }
        let number = |name: &str, v: Option<&str>| -> Result<i64, String> {
            let v = v.ok_or_else(|| format!("no `{name}` field"))?;
            v.parse().map_err(|_| format!("`{name}` is not a number"))
        };
        let value = value
            .filter(|v| !v.is_empty())
            .ok_or("no `value` field")?
            .to_string();
        let revoked = match kind {
            Some("sid") => Revoked::Session(value),
            Some("jti") => Revoked::Token(value),
            Some("sub") => Revoked::User {
                sub: value,
                cutoff_ms: number("cutoff", cutoff)?,
            },
            Some(_) => return Err("unknown `kind`".into()),
            None => return Err("no `kind` field".into()),
        };
        Ok(FeedEntry {
            revoked,
            until_ms: number("until", until)?,
        })
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
        let stale: Result<(), RevocationError> = Verdict::Unavailable.into();
        assert_eq!(
            stale.map_err(|e| ApiError::from(e).catalogue().2),
            Err("SERVICE_UNAVAILABLE")
        );
        let revoked: Result<(), RevocationError> = Verdict::Revoked.into();
        assert!(matches!(revoked, Err(RevocationError::Revoked)));
        assert!(Result::<(), RevocationError>::from(Verdict::Valid).is_ok());
    }

    #[test]
    fn entry_ids_parse_print_and_order_as_redis_orders_them() {
        let a: EntryId = "1700000000000-0".parse().unwrap();
        let b: EntryId = "1700000000000-11".parse().unwrap();
        let c: EntryId = "1700000000001-2".parse().unwrap();
        assert!(EntryId::ZERO < a && a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-11");
        assert_eq!("5".parse::<EntryId>().unwrap(), EntryId { ms: 5, seq: 0 });
        assert!("x-1".parse::<EntryId>().is_err());
        assert!("1-".parse::<EntryId>().is_err());
    }

    #[test]
    fn every_kind_of_entry_survives_its_fields() {
        for revoked in [
            Revoked::Session("s".into()),
            Revoked::Token("j".into()),
            Revoked::User {
                sub: "7".into(),
                cutoff_ms: 1_700_000_000_999,
            },
        ] {
            let entry = FeedEntry {
                revoked,
                until_ms: 1_700_000_003_600,
            };
            let fields = entry.fields();
            let parsed = FeedEntry::from_fields(fields.iter().map(|(k, v)| (*k, v.as_str())));
            assert_eq!(parsed, Ok(entry));
        }
    }

    #[test]
    fn a_malformed_entry_is_refused_naming_what_is_wrong() {
        let parse = |fields: &[(&str, &str)]| FeedEntry::from_fields(fields.iter().copied());
        assert_eq!(
            parse(&[("value", "s"), ("until", "1")]).err().as_deref(),
            Some("no `kind` field")
        );
        assert!(parse(&[("kind", "nope"), ("value", "s"), ("until", "1")]).is_err());
        assert!(parse(&[("kind", "sid"), ("until", "1")]).is_err());
        assert!(parse(&[("kind", "sid"), ("value", ""), ("until", "1")]).is_err());
        assert!(parse(&[("kind", "sid"), ("value", "s")]).is_err());
        assert!(parse(&[("kind", "sid"), ("value", "s"), ("until", "soon")]).is_err());
        assert!(
            parse(&[("kind", "sub"), ("value", "1"), ("until", "1")]).is_err(),
            "a cut-off without its time"
        );
        assert!(
            parse(&[("kind", "jti"), ("value", "j"), ("until", "1"), ("extra", "x")]).is_ok(),
            "unknown fields are ignored"
        );
    }
}

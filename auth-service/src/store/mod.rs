//! The state every auth-service replica shares: sessions (with their refresh-token rotation), revoked
//! access tokens and per-user revocation cut-offs, rate-limit counters, MFA enrolments and login
//! challenges.
//!
//! One small trait per capability ([`UserStore`], [`SessionStore`], [`RevocationStore`], [`FeedStore`],
//! [`LimitStore`], [`MfaStore`], [`ChallengeStore`], [`KeyStore`], [`ClientStore`], [`GrantStore`],
//! [`PasskeyStore`], and [`StoreHealth`]
//! for `/ready`), each implemented
//! by both stores, which pass the
//! same conformance suite (`tests/api/store.rs`): [`redis::RedisStore`] (production) and
//! [`memory::MemoryStore`] (embedded, when `REDIS_URL` is empty; one lock per operation, kept in a file
//! when `EMBEDDED_STORE_FILE` is set). [`Stores`]
//! hands each caller only the capabilities it uses, all from one implementation built once.
//!
//! On Redis every operation is one round trip and atomic: the ones that check before they write (or
//! read the time) are one Lua script each (`store/lua/*.lua`); recovery-code use (`SREM`), MFA disable
//! and counter reset (`DEL`) and `/ready` (`PING`) are plain commands. Every key is built in [`keys`].
//!
//! Every time more than one replica compares is the store's own: a session's start, the issue time of
//! each generation, the logout-all cut-off, and "now" for the retry grace are read inside the operation
//! (Redis `TIME` in the script; the embedded store's injected clock) and handed back, so replicas whose
//! clocks disagree still decide as one. Callers pass only durations (TTLs, the grace). Rate-limit and
//! challenge windows are store-side TTLs too. The store keeps everything with a TTL equal to what is
//! left of the longest-lived token that depends on it, so nothing grows without bound.
//!
//! Users live here too, so every replica sees a change at once: a session remembers its user's
//! credential fingerprint ([`fingerprint`]) from login, and every rotation and session check reads the
//! user's record in the same atomic step, so a disabled user or a changed password ends the session on
//! the next request anywhere, still in one round trip. An update that weakens a user also moves their
//! logout-all cut-off in the same step ([`UserStore::update_user`]), so the revocation feed carries it.
//!
//! Every revocation (a session, a user's cut-off, an access token) is also appended to the revocation
//! feed in the same atomic operation ([`FeedStore`] reads it back; the format is
//! [`shared::revocation`]'s). The feed keeps entries for the store's *feed life*, the longest an access
//! token lives plus leeway ([`DEFAULT_FEED_LIFE_MS`] unless the service sets it), then drops them.

pub mod keys;
pub mod memory;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use shared::revocation::{EntryId, FeedEntry};
pub use shared::store::StoreError;

/// A user as the store keeps it. Usernames and e-mails are unique under
/// [`crate::identity::normalize`], which the store is handed (`*_key`) and keeps as its indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Positive; 0 in a record handed to [`UserStore::create_user`] means "the next free id".
    pub id: u64,
    pub username: String,
    pub email: String,
    /// `admin` or `usuario`.
    pub rol: String,
    /// argon2id PHC string; empty while the user has no password yet (a set-password token pending).
    pub password_hash: String,
    pub virtual_operator: String,
    pub active: bool,
    /// Bumped by every write; [`UserStore::update_user`] writes only over the version it was given.
    pub version: u64,
    /// A digest of the configuration entry (`API_USER`, `USERS_FILE`) last applied to this user; empty
    /// for a user created through the admin API.
    pub config: String,
    /// The pending one-time set-password token: `<sha-256 hex of the secret>:<expiry ms>`, or empty.
    pub reset: String,
}

impl UserRecord {
    /// What sessions remember of the user's credential (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.password_hash)
    }
}

/// A short hash of a password hash: sessions remember it from login, and one whose user's fingerprint
/// has changed since (a new password) is ended at its next use.
pub fn fingerprint(password_hash: &str) -> String {
    let digest = Sha256::new_with_prefix(b"credential:")
        .chain_update(password_hash.as_bytes())
        .finalize();
    hex::encode(&digest[..8])
}

/// Which unique field of a user is already someone else's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Id,
    Username,
    Email,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserUpdate {
    /// Written; the record as stored now (its new version), and the cut-off set if sessions were ended.
    Updated {
        user: Box<UserRecord>,
        cutoff_ms: Option<i64>,
    },
    /// The user changed since the version given: read again and retry.
    Stale,
    Missing,
    Taken(Taken),
    /// The user is the last active admin, and the write would leave none: nothing was written.
    LastAdmin,
}

/// The feed life of a store the service has not configured: the longest access token the service can
/// issue (a gettoken token, 2 h) plus leeway.
pub const DEFAULT_FEED_LIFE_MS: i64 = (2 * 3600 + shared::config::JWT_LEEWAY_SECS) * 1000;

/// A fresh session, as login creates it.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub sid: String,
    pub uid: String,
    /// The credential fingerprint the login proved ([`UserRecord::fingerprint`]): the session starts
    /// only if the user's record still has it (no new password since the hash was checked).
    pub fingerprint: String,
    pub refresh_jti: String,
    pub access_jti: String,
    /// How long the record must live: until the last of its tokens expires.
    pub ttl_ms: i64,
    /// The user's cut-off as it was when the credentials were proven (0: none), for a login finished
    /// by a second factor: the session does not start if the user's sessions were ended (logout-all,
    /// a weakening change) since. `None`: no such condition (the credentials were proven just now).
    pub cutoff_seen: Option<i64>,
}

/// What starting a session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStart {
    /// Started at `started_ms` (the store's time, possibly just ahead of `now_ms` when the user's
    /// sessions were ended earlier in the same second), for the user as stored at that instant.
    Started {
        started_ms: i64,
        now_ms: i64,
        user: Box<UserRecord>,
    },
    /// The user is gone or disabled, has another credential than the one proven, or had every
    /// session ended since it was proven: nothing was written.
    Refused,
}

/// A rate-limit counter: at most `limit` hits per fixed window of `window_ms`, counted together by
/// every replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub limit: u64,
    pub window_ms: i64,
}

/// What a rate-limit check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Over a limit; its window ends in this many ms.
    Limited {
        retry_after_ms: i64,
    },
}

/// One refresh attempt.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub sid: String,
    pub uid: String,
    /// The `jti` of the refresh token presented.
    pub presented_jti: String,
    /// Within this many ms (by the store's clock) of a rotation, the token it replaced gets the same successor again (0: never).
    pub grace_ms: i64,
    /// The jtis of the successor pair, used only if a rotation happens now.
    pub new_refresh_jti: String,
    pub new_access_jti: String,
    pub ttl_ms: i64,
    /// Counted first, in the same atomic step; over the limit nothing else happens.
    pub gate: Option<Counter>,
}

/// Everything needed to mint a session's current token pair again, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// When the session started (ms, the store's time); the absolute limit counts from here.
    pub started_ms: i64,
    /// When this pair was issued (ms, the store's time); its tokens' `iat`.
    pub issued_ms: i64,
    pub refresh_jti: String,
    pub access_jti: String,
}

/// What a refresh attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current; it is now dead and this is its successor, for this user as
    /// stored now.
    Rotated(Generation, UserRecord),
    /// The presented token was rotated within the grace and its successor is unused: the same successor.
    Replayed(Generation, UserRecord),
    /// A dead token was presented: the session is now revoked.
    Reused,
    /// The session is gone, revoked, or belongs to someone else; or its user is gone, disabled, or has
    /// a new password (the session is then revoked).
    Revoked,
    /// The rate-limit gate was closed; nothing was looked at.
    Limited { retry_after_ms: i64 },
}

/// What a request with a token of this session may rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionView {
    Active {
        /// The session's user as stored now: active, with the fingerprint the session started with.
        user: Box<UserRecord>,
        /// The only refresh `jti` that can rotate now.
        current_refresh_jti: String,
    },
    /// Revoked, or its user is gone, disabled or has a new password.
    Revoked,
}

/// A user's MFA enrolment as stored: sealed secrets only (see [`crate::mfa`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaRecord {
    /// Set up but not yet activated; expires.
    pub pending: Option<String>,
    /// Active: logins need a second step.
    pub active: Option<String>,
}

/// What one attempt on a login challenge may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeTry {
    Allowed,
    /// More than the allowed attempts: the challenge is dead.
    Exhausted,
    /// It already completed a login.
    Used,
}

/// Which store answers, and whether it is reachable: for `/ready` and logs.
#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Which implementation.
    fn kind(&self) -> &'static str;

    /// Answers when the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Sessions and their refresh-token rotation.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Records a new session, if its user, as stored at this very instant, is active and still has
    /// the proven credential (and had no session ended since it was proven). Its start (ms) is the
    /// store's now, or just after the user's cut-off if that is not earlier, so a new session is
    /// never born revoked; it raises the user's issue mark ([`RevocationStore::revoke_user`]). A
    /// session revoked before it started is refused ([`RevocationStore::revoke_session`]).
    async fn create_session(&self, session: &NewSession) -> Result<SessionStart, StoreError>;

    /// The atomic check-and-rotate of a refresh token; a rotation is stamped with the store's now, and
    /// the grace is measured on that same clock. The gate, if any, is counted exactly as
    /// [`LimitStore::gate`] counts a hit counter.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError>;

    /// Whether a session is still good, and, given an access token's `jti`, that token too (a refresh
    /// token has no revocation mark of its own: `None`).
    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError>;
}

/// Logout: one session, or every session of a user.
#[async_trait]
pub trait RevocationStore: Send + Sync + 'static {
    /// Revokes session `sid` of user `uid` and, if given, one access token `jti` of it for
    /// `jti_ttl_ms`.
    async fn revoke_session(&self, uid: &str, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError>;

    /// Revokes session `sid` of user `uid` as [`RevocationStore::revoke_session`] does, and if it has
    /// not started yet, marks it revoked for the feed's life, so that
    /// [`SessionStore::create_session`] refuses to start it: an authorization code's replay can
    /// overtake the first exchange, which chose the session at the authorization.
    async fn revoke_session_even_unstarted(&self, uid: &str, sid: &str) -> Result<(), StoreError>;

    /// Revokes every session of `uid` started until now; remembered for `ttl_ms`. The cut-off covers
    /// every token issued so far: it is the last millisecond of the second of the later of the store's
    /// now and the user's issue mark (the latest issue time of any of the user's tokens, kept by
    /// session starts and rotations, so a clock that stepped back since cannot let older tokens
    /// escape). Tokens carry whole seconds, hence the end of the second. It never moves back, and
    /// moves forward only as far as that: logging out everywhere twice in one second ends the same
    /// sessions at the same cut-off. Returns the cut-off in force (ms).
    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError>;

    /// The user's cut-off in force (ms), if any: what a login challenge remembers, so that the
    /// session it leads to starts only if no session was ended since ([`NewSession::cutoff_seen`]).
    async fn cutoff(&self, uid: &str) -> Result<Option<i64>, StoreError>;

    /// Whether access token `jti` of `uid` is revoked by itself ([`RevocationStore::revoke_session`]
    /// with a `jti`): what a token without a session (a machine client's) is checked against.
    async fn token_revoked(&self, uid: &str, jti: &str) -> Result<bool, StoreError>;
}

/// The users, shared by every replica.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    async fn user(&self, id: u64) -> Result<Option<UserRecord>, StoreError>;

    /// The user whose normalised username is `username_key`.
    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError>;

    /// The user whose normalised e-mail is `email_key`.
    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError>;

    /// At most `limit` users with ids above `after`, by id.
    async fn users_after(&self, after: u64, limit: usize) -> Result<Vec<UserRecord>, StoreError>;

    /// Creates a user (id 0: the next free id), checking id, username and e-mail are free in the same
    /// atomic step. Returns the record as stored (version 1).
    async fn create_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError>;

    /// Writes `user` (same id; the username and e-mail may change, checked for uniqueness) if the
    /// stored version is still `user.version`, and unless it turns the last active admin into
    /// anything else ([`UserUpdate::LastAdmin`], decided in the same atomic step: two admins demoting
    /// each other at once leave one). With `end_sessions` (how long the cut-off is
    /// remembered, ms), every session of the user started until now ends in the same step, as
    /// [`RevocationStore::revoke_user`] does (feed entry included).
    async fn update_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError>;
}

/// The revocation feed, read back: for tests and for an in-process follower.
#[async_trait]
pub trait FeedStore: Send + Sync + 'static {
    /// At most `count` entries after `after`, oldest first; entries past the feed life are gone.
    async fn feed_after(&self, after: EntryId, count: usize)
        -> Result<Vec<(EntryId, FeedEntry)>, StoreError>;

    /// Appends the feed entries that revocations recorded as owed and nobody appended yet (a Redis
    /// Cluster's second step failed, or its process died), for users who owe them since at least
    /// `older_than_ms`; a no-op where revocation and entry are one atomic write. Returns how many
    /// users it looked at. Every replica runs it every few seconds.
    async fn sweep_owed(&self, older_than_ms: i64) -> Result<usize, StoreError>;
}

/// Rate-limit and failure counters, counted together by every replica.
#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// Counts one hit on each of `hits` in order, then checks each of `locks` without counting, all
    /// atomically; stops at the first one over its limit (a hit counter past `limit` hits, a lock
    /// counter at `limit` or more) and answers how long that one's window has left.
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError>;

    /// Records one failure on each counter (its window starts with its first failure); returns the
    /// largest count after it, so the caller can tell the failure that locks.
    async fn fail(&self, counters: &[Counter]) -> Result<u64, StoreError>;

    /// Forgets counters (after a successful login).
    async fn reset(&self, keys: &[String]) -> Result<(), StoreError>;
}

/// Users' MFA enrolments: sealed secrets, the last accepted step, recovery-code hashes.
#[async_trait]
pub trait MfaStore: Send + Sync + 'static {
    /// The user's MFA enrolment.
    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError>;

    /// Stores a pending secret (replacing a pending one) unless MFA is already active: `false` then.
    async fn mfa_set_pending(&self, uid: &str, sealed: &str, ttl_ms: i64) -> Result<bool, StoreError>;

    /// Activates the pending secret `sealed` if it is still the pending one and `step` is later than
    /// any accepted before; stores the recovery-code hashes. `false` if anything changed meanwhile.
    async fn mfa_activate(
        &self,
        uid: &str,
        sealed: &str,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError>;

    /// Accepts a TOTP step if MFA is active and the step is later than the last accepted one.
    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError>;

    /// Removes one recovery-code hash; `true` if it was there.
    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError>;

    /// Forgets the user's MFA entirely.
    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError>;
}

/// A key that signs tokens (an asymmetric `JWT_ALGORITHM`'s, an ID token's), as kept in the store: its
/// public JWK, and its private key sealed under `KEY_ENCRYPTION_KEY` ([`crate::signing`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// The RFC 7638 thumbprint of its public key.
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub alg: String,
    pub created_ms: i64,
    /// It signs from then on (published before, for the JWKS cache lifetime).
    pub activate_ms: i64,
    /// The public JWK (JSON), as published.
    pub public_jwk: String,
    /// The private key (DER), sealed with the key id as associated data.
    pub sealed: String,
}

/// The signing keys every replica shares.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Every signing key stored, in no particular order.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Adds `key` if the newest key of its algorithm is still `after` (`None`: there is none yet), in
    /// one atomic step; `false` when another was added first (two replicas rotating at once add one
    /// key, not two).
    async fn add_signing_key(&self, key: &SigningKeyRecord, after: Option<&str>) -> Result<bool, StoreError>;

    /// Forgets keys no token can name any more.
    async fn remove_signing_keys(&self, kids: &[String]) -> Result<(), StoreError>;

    /// The store's time (ms): what a forced rotation counts its publish lead from, so a host whose
    /// clock is off (`auth-service keys rotate` runs anywhere) cannot cut the lead short.
    async fn store_now_ms(&self) -> Result<i64, StoreError>;
}

/// One valid secret of an OAuth client, as kept: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSecret {
    /// The random key of [`StoredSecret::hash`] (hex).
    pub salt: String,
    /// HMAC-SHA256 of the secret under `salt` (hex); see [`crate::oauth::registry`].
    pub hash: String,
    /// When it stops being valid (ms, the service's clock); 0: until replaced.
    pub expires_ms: i64,
}

/// An OAuth 2.0 client as the store keeps it: its RFC 7591 metadata, the hashes of its valid secrets
/// (two during a rotation), whether it is active, and the version every write compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Space-separated, as RFC 7591 writes it.
    pub scope: String,
    /// `client_secret_basic`, `client_secret_post`, or `none` (a public client).
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    /// OIDC Back-Channel Logout 1.0: where a logout token is sent when a browser session this client
    /// signed in through ends (empty: none).
    #[serde(default)]
    pub backchannel_logout_uri: String,
    pub first_party: bool,
    pub active: bool,
    pub secrets: Vec<StoredSecret>,
    /// The client's cut-off when it was last enabled or its secret ended at once (ms, the store's
    /// time; 0: none): its new tokens are dated after it, so none is born revoked.
    #[serde(default)]
    pub tokens_after_ms: i64,
    /// Bumped by every write; [`ClientStore::put_client`] writes only over the version it was given.
    pub version: u64,
    /// A digest of the `CLIENTS_FILE` entry last applied to this client; empty for one made live.
    pub config: String,
}

/// The OAuth 2.0 clients, shared by every replica.
#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Every client, by `client_id`.
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;

    /// Writes `client` if the stored version is still `client.version` (0: no client of that id is
    /// stored: a create), in one atomic step. Returns the record as stored (its version one more), or
    /// `None` when the version was not the stored one (another write came first, or the id is taken).
    async fn put_client(&self, client: &ClientRecord) -> Result<Option<ClientRecord>, StoreError>;
}

/// Login challenges (the MFA second step): tries counted, one success.
#[async_trait]
pub trait ChallengeStore: Send + Sync + 'static {
    /// Counts one attempt on a login challenge.
    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError>;

    /// Marks a challenge as having completed its login; `false` if it already had.
    async fn mfa_challenge_finish(&self, jti: &str, ttl_ms: i64) -> Result<bool, StoreError>;
}

/// What a record of the OpenID Provider is ([`GrantStore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantKind {
    /// An authorization request waiting for its login or consent, by a random id.
    Request,
    /// An authorization code, by the SHA-256 of the code: single use ([`GrantStore::redeem_grant`]).
    Code,
    /// A browser session, by the SHA-256 of its cookie.
    Browser,
    /// A user's consent to a client's scopes, by `<uid>:<client_id>`.
    Consent,
    /// A set: the sessions started from one browser session (by its `sid`), ended with it.
    Descendants,
    /// A set: the `client_id`s a user consented to (by the user id), for `/cuenta`.
    UserConsents,
    /// A set: a user's browser sessions (by the user id; members are [`GrantKind::Browser`] ids).
    UserBrowsers,
    /// A set: the sessions a client holds of a user (by `<uid>:<client_id>`), ended when the user
    /// withdraws the client's access.
    ClientSessions,
    /// A set: every session a client holds (by `client_id`; members `<uid> <sid>`), ended when the
    /// client is disabled.
    AllClientSessions,
    /// A passkey ceremony under way, by its challenge: single use ([`GrantStore::redeem_grant`]).
    Ceremony,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Request => "req",
            GrantKind::Code => "code",
            GrantKind::Browser => "browser",
            GrantKind::Consent => "consent",
            GrantKind::Descendants => "desc",
            GrantKind::UserConsents => "uconsents",
            GrantKind::UserBrowsers => "ubrowsers",
            GrantKind::ClientSessions => "csessions",
            GrantKind::AllClientSessions => "allsessions",
            GrantKind::Ceremony => "webauthn",
        }
    }
}

/// What redeeming a single-use grant found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Its first redemption: the value.
    Fresh(String),
    /// Redeemed before (a replay): the value, so what it was exchanged for can be revoked.
    Replayed(String),
    /// No such grant (never made, or expired).
    Missing,
}

/// The OpenID Provider's short-lived records (see [`GrantKind`]): a value under a kind and an id,
/// with a lifetime, and sets of ids. Values are opaque here (JSON made by [`crate::oauth`]).
#[async_trait]
pub trait GrantStore: Send + Sync + 'static {
    /// Keeps `value` as grant `kind`/`id` for `ttl_ms`, replacing any before (unredeemed).
    async fn put_grant(&self, kind: GrantKind, id: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError>;

    /// A grant's value, if it is there.
    async fn grant(&self, kind: GrantKind, id: &str) -> Result<Option<String>, StoreError>;

    /// Redeems a grant in one atomic step: the first call gets [`Redeemed::Fresh`], every later one
    /// (until it expires) [`Redeemed::Replayed`]; two at once get one of each.
    async fn redeem_grant(&self, kind: GrantKind, id: &str) -> Result<Redeemed, StoreError>;

    /// Forgets a grant (and a set of that kind and id).
    async fn drop_grant(&self, kind: GrantKind, id: &str) -> Result<(), StoreError>;

    /// Adds `member` to set `kind`/`id`, which then lives at least `ttl_ms` more.
    async fn add_to_set(
        &self,
        kind: GrantKind,
        id: &str,
        member: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError>;

    /// The members of set `kind`/`id` (none when it is not there).
    async fn set_members(&self, kind: GrantKind, id: &str) -> Result<Vec<String>, StoreError>;
}

/// A passkey as the store keeps it ([`PasskeyStore`]): its public key and counter state, which
/// verifying its assertions needs, and what `/cuenta` shows. Never a private key: there is none here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRecord {
    /// The credential id, base64url without padding: unique across every user.
    pub id: String,
    pub uid: String,
    /// The name its user gave it.
    pub name: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    /// The WebAuthn user handle it was registered under (base64url), which a discoverable
    /// credential's assertion carries back.
    pub user_handle: String,
    /// The transports the browser reported (webauthn_rp's bit set), passed back in `allowCredentials`.
    pub transports: u8,
    /// The credential's static state (public key, extensions) as [`crate::passkeys`] encodes it.
    pub public_key: String,
    /// Its dynamic state (signature counter, user verification, backup), likewise; what each use moves.
    pub state: String,
}

/// What adding a passkey found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAdded {
    Added,
    /// Its credential id is registered already (to this user or another).
    Taken,
    /// The user holds the most passkeys allowed.
    Full,
}

/// What removing a passkey found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRemoved {
    Removed,
    /// No passkey of that user with that id.
    Unknown,
    /// Kept: the user's last, and the last was to be kept.
    Last,
}

/// Users' passkeys, by user and by credential id.
#[async_trait]
pub trait PasskeyStore: Send + Sync + 'static {
    /// Adds a passkey unless its credential id is registered already or its user holds `max`.
    async fn add_passkey(&self, record: &PasskeyRecord, max: usize) -> Result<PasskeyAdded, StoreError>;

    /// The passkey with credential id `id`, whoever holds it.
    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError>;

    /// A user's passkeys, in no particular order.
    async fn passkeys(&self, uid: &str) -> Result<Vec<PasskeyRecord>, StoreError>;

    /// Replaces `before` (a passkey of `before.uid`) with `after` if it is still exactly `before`: a
    /// compare-and-set, so two assertions that read the same counter cannot both move it. `false` if
    /// it changed or is gone.
    async fn update_passkey(&self, before: &PasskeyRecord, after: &PasskeyRecord)
        -> Result<bool, StoreError>;

    /// Removes passkey `id` of user `uid`, unless `keep_last` and it is the user's last: the count
    /// and the removal are one step, so two removals at once cannot both go through on each other's
    /// word that a passkey stays.
    async fn remove_passkey(
        &self,
        uid: &str,
        id: &str,
        keep_last: bool,
    ) -> Result<PasskeyRemoved, StoreError>;
}

/// Every capability, each from the same implementation; built once in [`crate::app::App::build`] and
/// cheap to clone. Callers keep only the fields they use.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub feed: Arc<dyn FeedStore>,
    pub limits: Arc<dyn LimitStore>,
    pub mfa: Arc<dyn MfaStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub keys: Arc<dyn KeyStore>,
    pub clients: Arc<dyn ClientStore>,
    pub grants: Arc<dyn GrantStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub health: Arc<dyn StoreHealth>,
}

impl Stores {
    /// Every capability from one implementation.
    pub fn of<S>(store: Arc<S>) -> Self
    where
        S: UserStore
            + SessionStore
            + RevocationStore
            + FeedStore
            + LimitStore
            + MfaStore
            + ChallengeStore
            + KeyStore
            + ClientStore
            + GrantStore
            + PasskeyStore
            + StoreHealth,
    {
        Self {
            users: store.clone(),
            sessions: store.clone(),
            revocations: store.clone(),
            feed: store.clone(),
            limits: store.clone(),
            mfa: store.clone(),
            challenges: store.clone(),
            keys: store.clone(),
            clients: store.clone(),
            grants: store.clone(),
            passkeys: store.clone(),
            health: store,
        }
    }

    /// Which implementation, for `/ready` and logs.
    pub fn kind(&self) -> &'static str {
        self.health.kind()
    }

    /// Answers when the store is reachable.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.health.ping().await
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

//! The Redis store. Every operation is one round trip and atomic: those that check before they write,
//! or read the time, are one Lua script each (`lua/*.lua`, loaded with `include_str!`, each naming its
//! KEYS and ARGV at the top); recovery-code use (`SREM`), MFA disable and counter reset (`DEL`) and
//! `/ready` (`PING`) are single plain commands.
//!
//! The connection is [`shared::store::RedisConn`]: made on first use, self-healing, with a deadline on
//! every call; a timeout or a connection error is a [`StoreError`] and the request fails closed (503).
//!
//! Times are Redis's: the scripts that stamp or compare one read `TIME` through the shared fragment
//! `lua/now.lua` (Redis 7 replicates a script's effects, not the script, so `TIME` is allowed in a
//! script that writes). Rate-limit, challenge and record lifetimes are `PEXPIRE`/`PX` TTLs, which Redis
//! also counts on its own clock. Tests may shift this store's "now" by a fixed offset
//! ([`RedisStore::advance_time_ms`]); it is 0 otherwise.
//!
//! The per-IP gate of a refresh is counted inside the rotation script (one round trip per refresh) by
//! the same fragment, `lua/counter.lua`, that the gate script uses, so the two cannot drift apart.
//!
//! Every script that revokes also appends to the revocation feed (the fragment `lua/feed.lua`, with
//! `XADD ... MINID` so the stream is trimmed by time in the same step), so a revocation and its feed
//! entry are one atomic write.
//!
//! Keys and what they hold: see [`super::keys`].
//!
//! ## On a Redis Cluster
//!
//! Everything of one user shares the user's hash tag, so sessions, rotations, session checks, MFA and
//! logout of one session stay one atomic script on one node. What spans two slots is two calls, and
//! each split is safe on its own terms:
//!
//! - **Refresh and the per-IP gate.** The rotation (the user's slot) and the gate counter (the IP's
//!   slot) go out together: still one round-trip time. A rotation that the gate would have refused is
//!   delivered all the same (withholding it would lose it: the client's token is already replaced) and
//!   the IP is marked *hot* on this replica until its window ends: its next refreshes count the gate
//!   first and rotate only if it is open, exactly as on one Redis. So the limit is exact after the
//!   first refusal and overshoots by at most the refreshes already in flight when it was crossed.
//! - **The revocation feed** is one stream in a slot of its own, so the script that revokes (a logout,
//!   reuse detected, a session of a disabled user, logout-all, a user update that ends sessions)
//!   cannot append to it. It records the entry as *owed* instead, in the user's own slot, in the same
//!   atomic step as the revocation (`P auth:{u:<uid>}:owed`, `lua/revoked.lua`); the store then
//!   appends what the user owes and clears it (one or two more round trips, on those paths only).
//!   Before a logout, logout-all or update that ends sessions, the user is added to the index of
//!   users who may owe entries (`P auth:owed`); a sweeper ([`RedisStore::sweep_owed`], run every few
//!   seconds by every replica) appends whatever the indexed users still owe. And every rotation and
//!   session check of a user answers whether the user owes anything, which is then appended. So an
//!   append that fails (the request answers 503), or a process that dies between the two steps,
//!   loses nothing: the entry reaches the feed at the next sweep or the user's next request, whichever
//!   comes first. An entry appears twice at worst (harmless: backends apply it once). The one path
//!   that adds a user to the index only after its revocation is reuse detected during a refresh (it
//!   is not known before the script runs): should the process die between the two, the entry waits
//!   for the user's next request.
//! - **Users.** A user's record is in the user's slot; the username and e-mail indexes and the id list
//!   are under `{users}`. The record is the truth and an index entry a pointer to it: a lookup reads the
//!   entry, then the record, and answers only if the record still claims that username or e-mail.
//!   Creating writes the record first (invisible until indexed), then claims the index entries; an
//!   entry held by a user whose record no longer claims it (a rename interrupted half-way) is taken
//!   over; one held for real makes the new record go again and the answer 409. A rename claims the new
//!   entries, writes the record over its version, then drops the old entries. Every intermediate state
//!   is either invisible or refused, never two users found under one name.
//! - **Several counters** (a login's per-IP and per-account counters) are counted by one call each,
//!   sent together; a hit counted after another counter already refused is the only difference from one
//!   Redis (it is counted, where one Redis would have stopped first).
//!
//! ## Before hash tags
//!
//! Keys written by versions before the tagged layout are renamed on the first use of the store (one
//! Redis or Sentinel; a cluster never held them): a `SCAN` of `P auth:*` renames sessions, cut-offs,
//! MFA state, users and indexes to their tagged names (TTLs kept), drops old revoked-token marks (their
//! sessions are revoked too), then sets `P auth:layout`. Replicas starting together may each rename;
//! a key already moved is skipped. Until it is done, no operation runs.

// One file per capability, each implementing its traits (and the helpers only it needs) for
// [`RedisStore`]; what they share (the scripts, the connection, the counters tests inject failures
// through) is here.
mod feed;
mod grants;
mod layout;
mod limits;
mod mfa;
mod passkeys;
mod registry;
mod sessions;
mod users;

use std::collections::HashMap;
use std::collections::HashMap as Map;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Value;
use shared::store::{from_value, Call, Lua, RedisConn, Rename};

use super::keys::{legacy, Keys};
use super::{
    ChallengeStore, ChallengeTry, ClientRecord, ClientStore, Counter, EntryId, FeedEntry, FeedStore, Gate,
    Generation, GrantKind, GrantStore, KeyStore, LimitStore, MfaRecord, MfaStore, NewSession, PasskeyAdded,
    PasskeyRecord, PasskeyRemoved, PasskeyStore, RevocationStore, RotateOutcome, Rotation, SessionStart,
    SessionStore, SessionView, SigningKeyRecord, StoreError, StoreHealth, Taken, UserRecord, UserStore,
    UserUpdate,
};

/// One script: the files of `lua/` named, in order (the fragments it needs first: `now` defines
/// `now_ms`, `counter` the rate-limit counter functions), concatenated at compile time.
macro_rules! lua {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("../lua/", $file, ".lua"))),+)
    };
}

const CREATE: &str = lua!("now", "issued", "create_session");
const ROTATE: &str = lua!("now", "counter", "feed", "revoked", "issued", "rotate");
const VIEW: &str = lua!("session_view");
const REVOKE_SESSION: &str = lua!("now", "feed", "revoked", "revoke_session");
const REVOKE_USER: &str = lua!("now", "feed", "revoked", "cutoff", "revoke_user");
const USER_FIND: &str = lua!("user_find");
const USERS_AFTER: &str = lua!("users_after");
const USER_CREATE: &str = lua!("admins", "user_create");
const USER_UPDATE: &str = lua!("now", "feed", "revoked", "cutoff", "admins", "user_update");
const ADMINS_BUILD: &str = lua!("admins_build");
const KEYS_ADD: &str = lua!("keys_add");
const CLIENT_PUT: &str = lua!("client_put");
const ADMINS_TAKE: &str = lua!("admins", "admins_take");
const USER_GET: &str = lua!("user_get");
const USER_PUT_NEW: &str = lua!("user_put_new");
const USER_SET: &str = lua!("now", "feed", "revoked", "cutoff", "user_set");
const USERS_CLAIM: &str = lua!("users_claim");
const USERS_RELEASE: &str = lua!("users_release");
const FEED_ADD: &str = lua!("feed", "feed_add");
const OWED_CLEAR: &str = lua!("owed_clear");
const OWED_INDEX: &str = lua!("now", "owed_index");

/// The marker a session script's reply ends with, on a cluster, when the user owes feed entries.
const OWED: &str = "~owed";

/// How many indexed users one sweep looks at.
const SWEEP_BATCH: usize = 100;

/// The most IPs remembered as hot (see the module doc); past it, the expired ones go, then all.
const HOT_IPS_MAX: usize = 10_000;
const GATE: &str = lua!("counter", "gate");
const FAIL: &str = lua!("fail");
const MFA_RECORD: &str = lua!("mfa_record");
const MFA_SET_PENDING: &str = lua!("mfa_set_pending");
const MFA_ACTIVATE: &str = lua!("mfa_activate");
const MFA_ACCEPT_STEP: &str = lua!("mfa_accept_step");
const CHALLENGE_TRY: &str = lua!("challenge_try");
const CHALLENGE_FINISH: &str = lua!("challenge_finish");
const GRANT_PUT: &str = lua!("grant_put");
const GRANT_REDEEM: &str = lua!("grant_redeem");
const GRANT_ADD: &str = lua!("grant_add");
const PASSKEY_ADD: &str = lua!("passkey_add");
const PASSKEY_SWAP: &str = lua!("passkey_swap");
const PASSKEY_RELEASE: &str = lua!("passkey_release");
const PASSKEY_REMOVE: &str = lua!("passkey_remove");

/// See the module doc.
pub struct RedisStore {
    redis: RedisConn,
    /// Whether Redis is a cluster: what spans two slots is two calls (see the module doc).
    cluster: bool,
    keys: Keys,
    create: Lua,
    rotate: Lua,
    view: Lua,
    revoke_session: Lua,
    revoke_user: Lua,
    user_find: Lua,
    users_after: Lua,
    user_create: Lua,
    user_update: Lua,
    user_get: Lua,
    user_put_new: Lua,
    user_set: Lua,
    users_claim: Lua,
    users_release: Lua,
    feed_add: Lua,
    owed_clear: Lua,
    owed_index: Lua,
    admins_build: Lua,
    keys_add: Lua,
    client_put: Lua,
    admins_take: Lua,
    gate: Lua,
    fail: Lua,
    mfa_record: Lua,
    mfa_set_pending: Lua,
    mfa_activate: Lua,
    mfa_accept_step: Lua,
    challenge_try: Lua,
    challenge_finish: Lua,
    grant_put: Lua,
    grant_redeem: Lua,
    grant_add: Lua,
    passkey_add: Lua,
    passkey_swap: Lua,
    passkey_release: Lua,
    passkey_remove: Lua,
    /// Set once keys of the layout before hash tags are renamed (see the module doc).
    layout_ready: AtomicBool,
    layout_lock: tokio::sync::Mutex<()>,
    /// Cluster only: gate counters (IPs) found over their limit, until their window ends.
    hot: Mutex<HashMap<String, Instant>>,
    /// Added to Redis `TIME` by the scripts; tests only (see [`RedisStore::advance_time_ms`]).
    time_offset_ms: AtomicI64,
    /// How long feed entries are kept (ms): the longest access-token life plus leeway.
    feed_life_ms: i64,
    /// Tests only: how many of the next feed appends fail ([`RedisStore::fail_next_feed_appends`]).
    failing_appends: AtomicUsize,
    /// Tests only: how many of the next gate calls fail ([`RedisStore::fail_next_gate_calls`]).
    failing_gates: AtomicUsize,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Parses the URL now (a bad one stops the start); connects on first use.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::to(&shared::store::RedisTarget::Url(url.to_string()), prefix)
    }

    /// A store on `target` (one server, or the primary Sentinels name); connects on first use.
    pub fn to(target: &shared::store::RedisTarget, prefix: &str) -> Result<Self, StoreError> {
        Ok(Self {
            redis: RedisConn::to(target)?,
            cluster: target.is_cluster(),
            keys: Keys::new(prefix),
            create: Lua::new(CREATE),
            rotate: Lua::new(ROTATE),
            view: Lua::new(VIEW),
            revoke_session: Lua::new(REVOKE_SESSION),
            revoke_user: Lua::new(REVOKE_USER),
            user_find: Lua::new(USER_FIND),
            users_after: Lua::new(USERS_AFTER),
            user_create: Lua::new(USER_CREATE),
            user_update: Lua::new(USER_UPDATE),
            user_get: Lua::new(USER_GET),
            user_put_new: Lua::new(USER_PUT_NEW),
            user_set: Lua::new(USER_SET),
            users_claim: Lua::new(USERS_CLAIM),
            users_release: Lua::new(USERS_RELEASE),
            feed_add: Lua::new(FEED_ADD),
            owed_clear: Lua::new(OWED_CLEAR),
            owed_index: Lua::new(OWED_INDEX),
            admins_build: Lua::new(ADMINS_BUILD),
            keys_add: Lua::new(KEYS_ADD),
            client_put: Lua::new(CLIENT_PUT),
            admins_take: Lua::new(ADMINS_TAKE),
            gate: Lua::new(GATE),
            fail: Lua::new(FAIL),
            mfa_record: Lua::new(MFA_RECORD),
            mfa_set_pending: Lua::new(MFA_SET_PENDING),
            mfa_activate: Lua::new(MFA_ACTIVATE),
            mfa_accept_step: Lua::new(MFA_ACCEPT_STEP),
            challenge_try: Lua::new(CHALLENGE_TRY),
            challenge_finish: Lua::new(CHALLENGE_FINISH),
            grant_put: Lua::new(GRANT_PUT),
            grant_redeem: Lua::new(GRANT_REDEEM),
            grant_add: Lua::new(GRANT_ADD),
            passkey_add: Lua::new(PASSKEY_ADD),
            passkey_swap: Lua::new(PASSKEY_SWAP),
            passkey_release: Lua::new(PASSKEY_RELEASE),
            passkey_remove: Lua::new(PASSKEY_REMOVE),
            layout_ready: AtomicBool::new(false),
            layout_lock: tokio::sync::Mutex::new(()),
            hot: Mutex::new(HashMap::new()),
            time_offset_ms: AtomicI64::new(0),
            feed_life_ms: super::DEFAULT_FEED_LIFE_MS,
            failing_appends: AtomicUsize::new(0),
            failing_gates: AtomicUsize::new(0),
        })
    }

    /// How long revocation-feed entries are kept (ms): the longest access-token life plus leeway.
    pub fn with_feed_life_ms(mut self, ms: i64) -> Self {
        self.feed_life_ms = ms.max(1);
        self
    }

    /// Tests only: moves this store's idea of now (Redis `TIME` as the scripts read it) by `ms`, so a
    /// test can step past a grace without sleeping. Nothing in the service or its configuration calls
    /// it: in production the offset is 0. TTLs are Redis's own and do not move.
    #[doc(hidden)]
    pub fn advance_time_ms(&self, ms: i64) {
        self.time_offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Tests only: the next `n` appends of owed entries to the feed fail as an unreachable node
    /// would (a cluster's second step; see the module doc). Nothing in the service calls it.
    #[doc(hidden)]
    pub fn fail_next_feed_appends(&self, n: usize) {
        self.failing_appends.store(n, Ordering::SeqCst);
    }

    /// Tests only: the next `n` gate calls of a cluster's refresh (the per-IP counter, in a slot of
    /// its own) fail as an unreachable node would. Nothing in the service calls it.
    #[doc(hidden)]
    pub fn fail_next_gate_calls(&self, n: usize) {
        self.failing_gates.store(n, Ordering::SeqCst);
    }

    fn time_offset_ms(&self) -> i64 {
        self.time_offset_ms.load(Ordering::SeqCst)
    }

    /// Runs a script once the layout is current (see the module doc).
    async fn invoke(&self, call: Call<'_>) -> Result<Value, StoreError> {
        self.layout().await?;
        self.redis.invoke(call).await
    }

    /// Runs a write that must survive a failover ([`RedisConn::invoke_durable`]).
    async fn invoke_durable(&self, call: Call<'_>) -> Result<Value, StoreError> {
        self.layout().await?;
        self.redis.invoke_durable(call).await
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.layout().await?;
        self.redis.query(cmd).await
    }

    /// One command that must survive a failover ([`RedisConn::query_durable`]).
    async fn query_durable<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.layout().await?;
        self.redis.query_durable(cmd).await
    }
}

/// Tests only: whether this call is one a test asked to fail (counts it down).
fn injected(failing: &AtomicUsize) -> bool {
    failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A gate's verdict from its reply (-1: open, else ms left).
fn gate_of(ttl: i64) -> Gate {
    if ttl < 0 {
        Gate::Open
    } else {
        Gate::Limited { retry_after_ms: ttl }
    }
}

fn int(s: &str) -> Result<i64, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Protocol(format!("`{s}` is not a number")))
}

#[async_trait]
impl StoreHealth for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.layout().await?;
        self.redis.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::users::{view_record, VIEW_FIELDS};
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Vec<String> {
        VIEW_FIELDS
            .iter()
            .map(|f| {
                pairs
                    .iter()
                    .find(|(k, _)| k == f)
                    .map_or(String::new(), |(_, v)| v.to_string())
            })
            .collect()
    }

    #[test]
    fn a_session_scripts_user_reads_by_position() {
        let user = view_record(&values(&[
            ("id", "7"),
            ("ver", "3"),
            ("username", "ana"),
            ("email", "ana@example.com"),
            ("rol", "usuario"),
            ("hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            ("active", "1"),
        ]))
        .unwrap();
        assert_eq!((user.id, user.version), (7, 3));
        assert_eq!(
            (user.username.as_str(), user.email.as_str()),
            ("ana", "ana@example.com")
        );
        assert_eq!(user.rol, "usuario");
        assert!(user.active);
        // Absent fields ('' in the reply) are empty, as in an HGETALL without them.
        assert_eq!(
            (
                user.virtual_operator.as_str(),
                user.config.as_str(),
                user.reset.as_str()
            ),
            ("", "", "")
        );
    }

    #[test]
    fn a_session_scripts_user_of_the_wrong_shape_is_a_store_fault() {
        let short = view_record(&["7".to_string(), "3".to_string()]);
        assert!(matches!(short, Err(StoreError::Protocol(m)) if m.contains("wrong length")));
        // No id (a record deleted between the script's checks cannot be, but a bad one can).
        let no_id = view_record(&values(&[("ver", "3"), ("username", "ana")]));
        assert!(matches!(no_id, Err(StoreError::Protocol(m)) if m.contains("id or version")));
        let bad_number = view_record(&values(&[("id", "siete"), ("ver", "3")]));
        assert!(matches!(bad_number, Err(StoreError::Protocol(m)) if m.contains("not a number")));
    }
}

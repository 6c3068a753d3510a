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
    Generation, KeyStore, LimitStore, MfaRecord, MfaStore, NewSession, RevocationStore, RotateOutcome,
    Rotation, SessionStart, SessionStore, SessionView, SigningKeyRecord, StoreError, StoreHealth, Taken,
    UserRecord, UserStore, UserUpdate,
};

/// One script: the files of `lua/` named, in order (the fragments it needs first: `now` defines
/// `now_ms`, `counter` the rate-limit counter functions), concatenated at compile time.
macro_rules! lua {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("lua/", $file, ".lua"))),+)
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

    /// Renames keys of the layout before hash tags, once (see the module doc).
    async fn layout(&self) -> Result<(), StoreError> {
        if self.layout_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.layout_lock.lock().await;
        if self.layout_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.cluster {
            self.rename_legacy_keys().await?;
        }
        self.build_admins().await?;
        self.layout_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Builds the set of active admins from the records, once per deployment (a store written before
    /// the set existed): in one script on one Redis or Sentinel; in steps on a cluster, where the
    /// records are in slots of their own (an admin demoted by another replica while a cluster's set
    /// is built may be counted: the only window, once, at the first start of this version).
    async fn build_admins(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        if !self.cluster {
            let (before, after) = keys.user_affixes();
            let mut inv = self.admins_build.prepare_invoke();
            inv.key(keys.user_ids())
                .key(keys.admins())
                .key(keys.admins_built())
                .arg(before)
                .arg(after);
            self.redis.invoke_durable(inv).await?;
            return Ok(());
        }
        let built: Option<String> = self
            .redis
            .query(redis::cmd("GET").arg(keys.admins_built()))
            .await?;
        if built.is_some() {
            return Ok(());
        }
        let ids: Vec<String> = self
            .redis
            .query(redis::cmd("ZRANGE").arg(keys.user_ids()).arg(0).arg(-1))
            .await?;
        for id in ids {
            let fields: Vec<Option<String>> = self
                .redis
                .query(redis::cmd("HMGET").arg(keys.user(&id)).arg("rol").arg("active"))
                .await?;
            if matches!(fields.as_slice(), [Some(rol), Some(active)] if rol == "admin" && active == "1") {
                self.admins_call(&id, "put").await?;
            }
        }
        self.redis
            .query_durable::<()>(redis::cmd("SET").arg(keys.admins_built()).arg("1"))
            .await
    }

    /// Cluster: takes a user out of the set of active admins unless it is the last (`take`:
    /// `false` then), or puts one in (`put`). See `lua/admins_take.lua`.
    async fn admins_call(&self, uid: &str, op: &str) -> Result<bool, StoreError> {
        let mut inv = self.admins_take.prepare_invoke();
        inv.key(self.keys.admins()).arg(uid).arg(op);
        Ok(from_value::<i64>(self.redis.invoke_durable(inv).await?)? == 1)
    }

    async fn rename_legacy_keys(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        let (renamed, dropped) =
            shared::store::rename_keys(&self.redis, keys.base(), &keys.layout(), |key| {
                match legacy::destination(keys, key) {
                    legacy::Move::Keep => Rename::Keep,
                    legacy::Move::Drop => Rename::Drop,
                    legacy::Move::To(to) => Rename::To(to),
                    legacy::Move::Session { sid } => {
                        let keys = keys.clone();
                        Rename::ByField {
                            field: "uid",
                            to: Box::new(move |uid| keys.session(uid, &sid)),
                        }
                    }
                }
            })
            .await?;
        if renamed + dropped > 0 {
            tracing::info!(
                renamed,
                dropped,
                "store: keys of the layout before hash tags renamed"
            );
        }
        Ok(())
    }

    /// Cluster only: appends feed entries `(kind, value, until ms, cut-off or "")` in a call of
    /// their own (see the module doc).
    async fn append_feed(&self, entries: &[(&str, &str, &str, &str)]) -> Result<(), StoreError> {
        if injected(&self.failing_appends) {
            return Err(StoreError::Unavailable("injected feed append failure".into()));
        }
        let mut call = self.feed_add.prepare_invoke();
        call.key(self.keys.revocation_feed())
            .arg(0)
            .arg(self.feed_life_ms);
        for (kind, value, until, cutoff) in entries {
            call.arg(*kind).arg(*value).arg(*until).arg(*cutoff);
        }
        self.invoke_durable(call).await.map(|_| ())
    }

    /// Cluster only: adds the user to the index of users who may owe feed entries (before a
    /// revocation that owes one, so the sweeper finds it whatever happens next).
    async fn index_owed(&self, uid: &str) -> Result<(), StoreError> {
        let mut call = self.owed_index.prepare_invoke();
        call.key(self.keys.owed_index())
            .arg("add")
            .arg(uid)
            .arg(self.time_offset_ms());
        self.invoke_durable(call).await.map(|_| ())
    }

    /// Cluster only: appends every entry the user owes to the feed, then forgets those entries.
    /// Returns how many are still owed (a revocation recorded meanwhile).
    async fn drain_owed(&self, uid: &str) -> Result<u64, StoreError> {
        let owed: Map<String, String> = self.query(redis::cmd("HGETALL").arg(self.keys.owed(uid))).await?;
        if owed.is_empty() {
            return Ok(0);
        }
        let mut entries: Vec<(&str, &str, &str, &str)> = owed
            .iter()
            .filter_map(|(field, value)| {
                let (kind, what) = field.split_once(':')?;
                let (until, cutoff) = value.split_once('|')?;
                Some((kind, what, until, cutoff))
            })
            .collect();
        // In the order one Redis appends them: a session (or user) before the token of it.
        entries.sort_by_key(|(kind, ..)| match *kind {
            "sid" => 0,
            "sub" => 1,
            _ => 2,
        });
        self.append_feed(&entries).await?;
        let mut clear = self.owed_clear.prepare_invoke();
        clear.key(self.keys.owed(uid)).arg_pairs(owed.iter());
        from_value::<u64>(self.invoke_durable(clear).await?)
    }

    /// Cluster only: a session script's reply without its trailing owed marker; when the marker was
    /// there, the user's owed entries are appended first (a failure fails the request, and the
    /// entries stay owed for the next attempt or the sweeper).
    async fn settle_owed(&self, uid: &str, mut parts: Vec<String>) -> Result<Vec<String>, StoreError> {
        if parts.last().is_some_and(|p| p == OWED) {
            parts.pop();
            self.index_owed(uid).await?;
            self.drain_owed(uid).await?;
        }
        Ok(parts)
    }

    /// Cluster only: whether this gate counter was found over its limit and its window has not ended.
    fn is_hot(&self, key: &str) -> bool {
        let hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        hot.get(key).is_some_and(|until| *until > Instant::now())
    }

    fn mark_hot(&self, key: &str, for_ms: i64) {
        let mut hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        if hot.len() >= HOT_IPS_MAX {
            let now = Instant::now();
            hot.retain(|_, until| *until > now);
            if hot.len() >= HOT_IPS_MAX {
                hot.clear();
            }
        }
        let for_ms = u64::try_from(for_ms.max(1)).unwrap_or(1);
        hot.insert(key.to_string(), Instant::now() + Duration::from_millis(for_ms));
    }

    /// One counter's gate call (a cluster counts each counter in a call of its own).
    fn gate_call<'a>(&'a self, counter: &Counter, hit: bool) -> Call<'a> {
        let mut call = self.gate.prepare_invoke();
        call.arg(usize::from(hit))
            .key(self.keys.rate_limit(&counter.key))
            .arg(counter.limit)
            .arg(counter.window_ms.max(1));
        call
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

/// A rotation's reply after its kind: the generation, then the user's record.
fn generation(parts: &[String]) -> Result<(Generation, UserRecord), StoreError> {
    match parts {
        [_, started, issued, refresh, access, user @ ..] => Ok((
            Generation {
                started_ms: int(started)?,
                issued_ms: int(issued)?,
                refresh_jti: refresh.clone(),
                access_jti: access.clone(),
            },
            view_record(user)?,
        )),
        _ => Err(StoreError::Protocol("unexpected rotation reply".into())),
    }
}

/// The fields of a user's hash (see [`super::keys`]), without `id` and `ver`, which the scripts set.
fn user_fields(user: &UserRecord, username_key: &str, email_key: &str) -> [(&'static str, String); 11] {
    [
        ("username", user.username.clone()),
        ("email", user.email.clone()),
        ("rol", user.rol.clone()),
        ("hash", user.password_hash.clone()),
        ("fp", user.fingerprint()),
        ("vo", user.virtual_operator.clone()),
        ("active", if user.active { "1" } else { "0" }.to_string()),
        ("config", user.config.clone()),
        ("reset", user.reset.clone()),
        ("nk", username_key.to_string()),
        ("ek", email_key.to_string()),
    ]
}

/// The fields of a user's record that the session scripts (`rotate.lua`, `session_view.lua`) answer,
/// values only, in this order: half the reply of an HGETALL (no field names, nor the index keys
/// and fingerprint no caller of theirs reads), on the two hottest paths.
const VIEW_FIELDS: [&str; 10] = [
    "id", "ver", "username", "email", "rol", "hash", "vo", "active", "config", "reset",
];

/// A user's record from the values of [`VIEW_FIELDS`]; an empty value is an absent field.
fn view_record(values: &[String]) -> Result<UserRecord, StoreError> {
    if values.len() != VIEW_FIELDS.len() {
        return Err(StoreError::Protocol("a user record has the wrong length".into()));
    }
    fields_record(
        VIEW_FIELDS
            .iter()
            .zip(values)
            .filter(|(_, value)| !value.is_empty())
            .map(|(field, value)| (*field, value)),
    )
}

/// A user's record from its HGETALL (field, value, ...). Never prints the values: they hold the
/// password hash.
fn record(flat: &[String]) -> Result<UserRecord, StoreError> {
    if !flat.len().is_multiple_of(2) {
        return Err(StoreError::Protocol("a user record has an odd length".into()));
    }
    fields_record(flat.chunks(2).filter_map(|pair| match pair {
        [field, value] => Some((field.as_str(), value)),
        _ => None,
    }))
}

/// A user's record from (field, value) pairs; fields it does not know are skipped.
fn fields_record<'a>(pairs: impl Iterator<Item = (&'a str, &'a String)>) -> Result<UserRecord, StoreError> {
    let mut user = UserRecord {
        id: 0,
        username: String::new(),
        email: String::new(),
        rol: String::new(),
        password_hash: String::new(),
        virtual_operator: String::new(),
        active: false,
        version: 0,
        config: String::new(),
        reset: String::new(),
    };
    let number = |field: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| StoreError::Protocol(format!("user field `{field}` is not a number")))
    };
    for (field, value) in pairs {
        match field {
            "id" => user.id = number("id", value)?,
            "ver" => user.version = number("ver", value)?,
            "username" => user.username = value.clone(),
            "email" => user.email = value.clone(),
            "rol" => user.rol = value.clone(),
            "hash" => user.password_hash = value.clone(),
            "vo" => user.virtual_operator = value.clone(),
            "active" => user.active = value == "1",
            "config" => user.config = value.clone(),
            "reset" => user.reset = value.clone(),
            _ => {}
        }
    }
    if user.id == 0 || user.version == 0 {
        return Err(StoreError::Protocol(
            "a user record lacks its id or version".into(),
        ));
    }
    Ok(user)
}

fn taken(which: &str) -> Result<Taken, StoreError> {
    match which {
        "id" => Ok(Taken::Id),
        "username" => Ok(Taken::Username),
        "email" => Ok(Taken::Email),
        other => Err(StoreError::Protocol(format!("unexpected taken field {other}"))),
    }
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

/// A rotation script's reply.
fn rotate_outcome(parts: &[String]) -> Result<RotateOutcome, StoreError> {
    match parts.first().map(String::as_str) {
        Some("limited") => Ok(RotateOutcome::Limited {
            retry_after_ms: parts.get(1).map(|s| int(s)).transpose()?.unwrap_or(1000),
        }),
        Some("rotated") => {
            let (generation, user) = generation(parts)?;
            Ok(RotateOutcome::Rotated(generation, user))
        }
        Some("replayed") => {
            let (generation, user) = generation(parts)?;
            Ok(RotateOutcome::Replayed(generation, user))
        }
        Some("reused") => Ok(RotateOutcome::Reused),
        Some("revoked") => Ok(RotateOutcome::Revoked),
        _ => Err(StoreError::Protocol("unexpected rotation reply".into())),
    }
}

impl RedisStore {
    fn rotate_call(&self, r: &Rotation, fused: bool) -> Call<'_> {
        let mut call = self.rotate.prepare_invoke();
        call.key(self.keys.session(&r.uid, &r.sid))
            .key(self.keys.cutoff(&r.uid))
            .key(self.keys.user(&r.uid))
            .key(self.keys.issued(&r.uid))
            .arg(self.time_offset_ms())
            .arg(&r.uid)
            .arg(if fused { "0" } else { "1" })
            .arg(&r.presented_jti)
            .arg(r.grace_ms)
            .arg(&r.new_refresh_jti)
            .arg(&r.new_access_jti)
            .arg(r.ttl_ms.max(1))
            .arg(&r.sid)
            .arg(self.feed_life_ms);
        if !fused {
            call.key(self.keys.owed(&r.uid));
        } else {
            call.key(self.keys.revocation_feed());
            if let Some(gate) = &r.gate {
                call.key(self.keys.rate_limit(&gate.key))
                    .arg(gate.limit)
                    .arg(gate.window_ms.max(1));
            }
        }
        call
    }

    /// A refresh on a cluster: the rotation and the gate in calls of their own (see the module doc).
    /// A rotation that committed is always delivered: withholding it would lose it (the presented
    /// token is already replaced), so a gate call that fails or refuses after it is logged, not
    /// answered.
    async fn rotate_split(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let rotation = async {
            let parts = from_value::<Vec<String>>(self.invoke_durable(self.rotate_call(r, false)).await?)?;
            self.settle_owed(&r.uid, parts).await
        };
        let parts = match &r.gate {
            None => rotation.await?,
            Some(gate) if self.is_hot(&gate.key) => {
                let ttl: i64 = from_value(self.invoke(self.gate_call(gate, true)).await?)?;
                if let Gate::Limited { retry_after_ms } = gate_of(ttl) {
                    return Ok(RotateOutcome::Limited { retry_after_ms });
                }
                rotation.await?
            }
            Some(gate) => {
                let gated = async {
                    if injected(&self.failing_gates) {
                        return Err(StoreError::Unavailable("injected gate failure".into()));
                    }
                    from_value::<i64>(self.invoke(self.gate_call(gate, true)).await?)
                };
                let (parts, ttl) = tokio::join!(rotation, gated);
                let outcome = rotate_outcome(&parts?)?;
                let committed = matches!(outcome, RotateOutcome::Rotated(..) | RotateOutcome::Replayed(..));
                return match ttl.map(gate_of) {
                    Ok(Gate::Limited { retry_after_ms }) => {
                        self.mark_hot(&gate.key, retry_after_ms);
                        Ok(if committed {
                            outcome
                        } else {
                            RotateOutcome::Limited { retry_after_ms }
                        })
                    }
                    Ok(Gate::Open) => Ok(outcome),
                    Err(e) if committed => {
                        tracing::warn!(error = %e, "refresh: the per-IP gate did not answer; the committed rotation is delivered");
                        Ok(outcome)
                    }
                    Err(e) => Err(e),
                };
            }
        };
        rotate_outcome(&parts)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, s: &NewSession) -> Result<SessionStart, StoreError> {
        let mut inv = self.create.prepare_invoke();
        inv.key(self.keys.session(&s.uid, &s.sid))
            .key(self.keys.cutoff(&s.uid))
            .key(self.keys.user(&s.uid))
            .key(self.keys.issued(&s.uid))
            .arg(self.time_offset_ms())
            .arg(&s.uid)
            .arg(&s.fingerprint)
            .arg(&s.refresh_jti)
            .arg(&s.access_jti)
            .arg(s.ttl_ms.max(1))
            .arg(s.cutoff_seen.map_or(String::new(), |seen| seen.to_string()));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind] if kind == "refused" => Ok(SessionStart::Refused),
            [kind, started, now, user @ ..] if kind == "started" => Ok(SessionStart::Started {
                started_ms: int(started)?,
                now_ms: int(now)?,
                user: Box::new(view_record(user)?),
            }),
            _ => Err(StoreError::Protocol("unexpected create_session reply".into())),
        }
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        if self.cluster {
            return self.rotate_split(r).await;
        }
        let parts = from_value::<Vec<String>>(self.invoke_durable(self.rotate_call(r, true)).await?)?;
        rotate_outcome(&parts)
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let mut inv = self.view.prepare_invoke();
        inv.key(self.keys.session(uid, sid))
            .key(self.keys.cutoff(uid))
            .key(self.keys.user(uid));
        if let Some(jti) = access_jti {
            inv.key(self.keys.revoked_jti(uid, jti));
        }
        inv.arg(uid);
        if self.cluster {
            inv.key(self.keys.owed(uid)).arg("1");
        }
        let mut parts = from_value::<Vec<String>>(self.invoke(inv).await?)?;
        if self.cluster {
            parts = self.settle_owed(uid, parts).await?;
        }
        match parts.as_slice() {
            [state] if state == "revoked" => Ok(SessionView::Revoked),
            [state, cur, user @ ..] if state == "active" => Ok(SessionView::Active {
                user: Box::new(view_record(user)?),
                current_refresh_jti: cur.clone(),
            }),
            _ => Err(StoreError::Protocol("unexpected session reply".into())),
        }
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke_session(&self, uid: &str, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        let jti = jti.filter(|(_, ttl_ms)| *ttl_ms > 0);
        if self.cluster {
            self.index_owed(uid).await?;
        }
        let mut inv = self.revoke_session.prepare_invoke();
        inv.key(self.keys.session(uid, sid))
            .key(self.keys.revoked_jti(uid, jti.map_or("", |(jti, _)| jti)))
            .key(if self.cluster {
                self.keys.owed(uid)
            } else {
                self.keys.revocation_feed()
            })
            .arg(self.time_offset_ms())
            .arg(sid)
            .arg(self.feed_life_ms)
            .arg(jti.map_or("", |(jti, _)| jti))
            .arg(jti.map_or(1, |(_, ttl_ms)| ttl_ms))
            .arg(if self.cluster { "1" } else { "0" });
        let owed = from_value::<i64>(self.invoke_durable(inv).await?)? == 1;
        if owed {
            // The revocation is in; its feed entries go out now, or at the sweep if this fails.
            self.drain_owed(uid).await?;
        }
        Ok(())
    }

    async fn cutoff(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        let cutoff: Option<String> = self.query(redis::cmd("GET").arg(self.keys.cutoff(uid))).await?;
        cutoff.map(|c| int(&c)).transpose()
    }

    async fn token_revoked(&self, uid: &str, jti: &str) -> Result<bool, StoreError> {
        let found: i64 = self
            .query(redis::cmd("EXISTS").arg(self.keys.revoked_jti(uid, jti)))
            .await?;
        Ok(found == 1)
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        if self.cluster {
            self.index_owed(uid).await?;
        }
        let mut inv = self.revoke_user.prepare_invoke();
        inv.key(self.keys.cutoff(uid))
            .key(self.keys.issued(uid))
            .key(if self.cluster {
                self.keys.owed(uid)
            } else {
                self.keys.revocation_feed()
            })
            .arg(self.time_offset_ms())
            .arg(ttl_ms.max(1))
            .arg(uid)
            .arg(self.feed_life_ms)
            .arg(if self.cluster { "1" } else { "0" });
        let reply: String = from_value(self.invoke_durable(inv).await?)?;
        if self.cluster {
            self.drain_owed(uid).await?;
        }
        int(&reply)
    }
}

/// Which index a lookup goes through, and so which field of the record must still claim the key.
#[derive(Clone, Copy)]
enum Index {
    Username,
    Email,
}

impl Index {
    fn field(self) -> &'static str {
        match self {
            Index::Username => "nk",
            Index::Email => "ek",
        }
    }
}

/// The value of `field` in a flat HGETALL.
fn field<'a>(flat: &'a [String], name: &str) -> Option<&'a str> {
    flat.chunks(2)
        .find(|pair| pair.first().is_some_and(|f| f == name))
        .and_then(|pair| pair.get(1))
        .map(String::as_str)
}

#[async_trait]
impl UserStore for RedisStore {
    async fn user(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        let flat = self.user_flat(&id.to_string()).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        record(&flat).map(Some)
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(Index::Username, username_key).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(Index::Email, email_key).await
    }

    async fn users_after(&self, after: u64, limit: usize) -> Result<Vec<UserRecord>, StoreError> {
        let pages: Vec<Vec<String>> = if self.cluster {
            let ids: Vec<String> = self
                .query(
                    redis::cmd("ZRANGE")
                        .arg(self.keys.user_ids())
                        .arg(format!("({after}"))
                        .arg("+inf")
                        .arg("BYSCORE")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(limit.max(1)),
                )
                .await?;
            futures::future::try_join_all(ids.iter().map(|id| self.user_flat(id))).await?
        } else {
            let (before, after_id) = self.keys.user_affixes();
            let mut inv = self.users_after.prepare_invoke();
            inv.key(self.keys.user_ids())
                .arg(after)
                .arg(limit.max(1))
                .arg(before)
                .arg(after_id);
            from_value(self.invoke(inv).await?)?
        };
        pages
            .iter()
            .filter(|flat| !flat.is_empty())
            .map(|flat| record(flat))
            .collect()
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError> {
        if self.cluster {
            return self.create_user_split(user, username_key, email_key).await;
        }
        let (before, after) = self.keys.user_affixes();
        let mut inv = self.user_create.prepare_invoke();
        inv.key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.user_ids())
            .key(self.keys.user_seq())
            .key(self.keys.admins())
            .arg(before)
            .arg(username_key)
            .arg(email_key)
            .arg(user.id)
            .arg(after);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind, id] if kind == "created" => Ok(Ok(UserRecord {
                id: int(id)? as u64,
                version: 1,
                ..user.clone()
            })),
            [kind, which] if kind == "taken" => Ok(Err(taken(which)?)),
            _ => Err(StoreError::Protocol("unexpected user_create reply".into())),
        }
    }

    async fn update_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError> {
        if self.cluster {
            return self
                .update_user_split(user, username_key, email_key, end_sessions)
                .await;
        }
        let uid = user.id.to_string();
        let mut inv = self.user_update.prepare_invoke();
        inv.key(self.keys.user(&uid))
            .key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.cutoff(&uid))
            .key(self.keys.revocation_feed())
            .key(self.keys.issued(&uid))
            .key(self.keys.admins())
            .arg(self.time_offset_ms())
            .arg(&uid)
            .arg(user.version)
            .arg(username_key)
            .arg(email_key)
            .arg(end_sessions.map_or(0, |ms| ms.max(1)))
            .arg(self.feed_life_ms);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind, which] if kind == "taken" => Ok(UserUpdate::Taken(taken(which)?)),
            [kind] if kind == "last_admin" => Ok(UserUpdate::LastAdmin),
            _ => updated(user, &parts),
        }
    }
}

/// An update's reply: `updated` (version, cut-off), `stale` or `missing`.
fn updated(user: &UserRecord, parts: &[String]) -> Result<UserUpdate, StoreError> {
    match parts {
        [kind, version, cutoff] if kind == "updated" => Ok(UserUpdate::Updated {
            user: Box::new(UserRecord {
                version: int(version)? as u64,
                ..user.clone()
            }),
            cutoff_ms: (!cutoff.is_empty()).then(|| int(cutoff)).transpose()?,
        }),
        [kind] if kind == "stale" => Ok(UserUpdate::Stale),
        [kind] if kind == "missing" => Ok(UserUpdate::Missing),
        _ => Err(StoreError::Protocol("unexpected user update reply".into())),
    }
}

/// How often a cluster's user write retries a claim whose entry turned out stale.
const CLAIM_TRIES: usize = 3;

impl RedisStore {
    /// A user's record as a flat HGETALL; empty when there is none.
    async fn user_flat(&self, uid: &str) -> Result<Vec<String>, StoreError> {
        let mut inv = self.user_get.prepare_invoke();
        inv.key(self.keys.user(uid));
        from_value(self.invoke(inv).await?)
    }

    async fn find(&self, index: Index, key: &str) -> Result<Option<UserRecord>, StoreError> {
        let index_key = match index {
            Index::Username => self.keys.users_by_username(),
            Index::Email => self.keys.users_by_email(),
        };
        let flat: Vec<String> = if self.cluster {
            let id: Option<String> = self.query(redis::cmd("HGET").arg(&index_key).arg(key)).await?;
            let Some(id) = id else { return Ok(None) };
            let flat = self.user_flat(&id).await?;
            // The record is the truth: an entry its record no longer claims is stale.
            if field(&flat, index.field()) != Some(key) {
                return Ok(None);
            }
            flat
        } else {
            let (before, after) = self.keys.user_affixes();
            let mut inv = self.user_find.prepare_invoke();
            inv.key(index_key).arg(key).arg(before).arg(after);
            from_value(self.invoke(inv).await?)?
        };
        if flat.is_empty() {
            return Ok(None);
        }
        record(&flat).map(Some)
    }

    /// Cluster: points `username_key` and `email_key` at `uid`, taking over entries whose user no
    /// longer claims them. `Ok(Some(taken))` when one is someone else's for real.
    async fn claim(
        &self,
        uid: &str,
        username_key: &str,
        email_key: &str,
    ) -> Result<Option<Taken>, StoreError> {
        let (mut stale_name, mut stale_email) = (String::new(), String::new());
        for _ in 0..CLAIM_TRIES {
            let mut inv = self.users_claim.prepare_invoke();
            inv.key(self.keys.users_by_username())
                .key(self.keys.users_by_email())
                .key(self.keys.user_ids())
                .key(self.keys.user_seq())
                .arg(uid)
                .arg(username_key)
                .arg(email_key)
                .arg(&stale_name)
                .arg(&stale_email);
            let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
            let (which, owner) = match parts.as_slice() {
                [kind] if kind == "claimed" => return Ok(None),
                [kind, which, owner] if kind == "taken" => (which.as_str(), owner.clone()),
                _ => return Err(StoreError::Protocol("unexpected users_claim reply".into())),
            };
            let (index, key) = match which {
                "username" => (Index::Username, username_key),
                _ => (Index::Email, email_key),
            };
            let owner_record = self.user_flat(&owner).await?;
            if field(&owner_record, index.field()) == Some(key) {
                return Ok(Some(taken(which)?));
            }
            match index {
                Index::Username => stale_name = owner,
                Index::Email => stale_email = owner,
            }
        }
        Err(StoreError::Unavailable(
            "the user indexes kept changing under a claim".into(),
        ))
    }

    /// Cluster: drops index entries that still point at `uid` (best effort: a stale entry left behind
    /// is harmless, see the module doc).
    async fn release(&self, uid: &str, username_key: &str, email_key: &str) {
        let mut inv = self.users_release.prepare_invoke();
        inv.key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .arg(uid)
            .arg(username_key)
            .arg(email_key);
        if let Err(e) = self.invoke_durable(inv).await {
            tracing::warn!(error = %e, "store: a stale user index entry was left behind (harmless)");
        }
    }

    /// Cluster: the record first (invisible until indexed), then the index entries.
    async fn create_user_split(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError> {
        let mut tries = 0;
        let id = loop {
            let id = if user.id == 0 {
                self.query::<u64>(redis::cmd("INCR").arg(self.keys.user_seq()))
                    .await?
            } else {
                user.id
            };
            let uid = id.to_string();
            let mut inv = self.user_put_new.prepare_invoke();
            inv.key(self.keys.user(&uid)).arg(&uid);
            inv.arg_pairs(user_fields(user, username_key, email_key));
            if from_value::<i64>(self.invoke_durable(inv).await?)? == 1 {
                break id;
            }
            tries += 1;
            if user.id != 0 {
                return Ok(Err(Taken::Id));
            }
            if tries >= CLAIM_TRIES {
                return Err(StoreError::Unavailable("no free user id found".into()));
            }
        };
        let uid = id.to_string();
        match self.claim(&uid, username_key, email_key).await {
            Ok(None) => {
                if user.rol == "admin" && user.active {
                    self.admins_call(&uid, "put").await?;
                }
                Ok(Ok(UserRecord {
                    id,
                    version: 1,
                    ..user.clone()
                }))
            }
            refused => {
                // Not created after all: the record goes again (nothing points at it).
                self.query::<i64>(redis::cmd("DEL").arg(self.keys.user(&uid)))
                    .await?;
                refused.map(|taken| Err(taken.unwrap_or(Taken::Username)))
            }
        }
    }

    /// Cluster: claim the new index entries, write the record over its version (and cut-off), drop
    /// the old entries, append the feed entry.
    async fn update_user_split(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError> {
        let uid = user.id.to_string();
        let stored = self.user_flat(&uid).await?;
        if stored.is_empty() {
            return Ok(UserUpdate::Missing);
        }
        if field(&stored, "ver") != Some(user.version.to_string().as_str()) {
            return Ok(UserUpdate::Stale);
        }
        let old_name = field(&stored, "nk").unwrap_or_default().to_string();
        let old_email = field(&stored, "ek").unwrap_or_default().to_string();
        let renamed = old_name != username_key || old_email != email_key;
        // The set of active admins first (it may refuse), put back should the write not happen.
        let was_admin = field(&stored, "rol") == Some("admin") && field(&stored, "active") == Some("1");
        let will_admin = user.rol == "admin" && user.active;
        let demotes = was_admin && !will_admin;
        if demotes && !self.admins_call(&uid, "take").await? {
            return Ok(UserUpdate::LastAdmin);
        }
        if renamed {
            match self.claim(&uid, username_key, email_key).await {
                Ok(None) => {}
                refused => {
                    if demotes {
                        self.admins_call(&uid, "put").await?;
                    }
                    return refused.map(|taken| UserUpdate::Taken(taken.unwrap_or(Taken::Username)));
                }
            }
        }
        if end_sessions.is_some() {
            self.index_owed(&uid).await?;
        }
        let mut inv = self.user_set.prepare_invoke();
        inv.key(self.keys.user(&uid))
            .key(self.keys.cutoff(&uid))
            .key(self.keys.issued(&uid))
            .key(self.keys.owed(&uid))
            .arg(self.time_offset_ms())
            .arg(&uid)
            .arg(user.version)
            .arg(end_sessions.map_or(0, |ms| ms.max(1)))
            .arg(self.feed_life_ms);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let written = from_value::<Vec<String>>(self.invoke_durable(inv).await?)
            .and_then(|parts| updated(user, &parts));
        let written_for_sure = matches!(written, Ok(UserUpdate::Updated { .. }));
        let not_written = matches!(written, Ok(UserUpdate::Stale | UserUpdate::Missing));
        let promoted = will_admin && !was_admin && written_for_sure;
        if (demotes && not_written) || promoted {
            self.admins_call(&uid, "put").await?;
        }
        // A write whose answer was lost may have happened: the admin stays out of the set, which can
        // only refuse a later demotion that was allowed, never allow one that was not.
        let outcome = written?;
        if renamed {
            let (gone_name, gone_email) = match outcome {
                // The old entries, where they changed.
                UserUpdate::Updated { .. } => (
                    if old_name != username_key {
                        old_name.as_str()
                    } else {
                        ""
                    },
                    if old_email != email_key {
                        old_email.as_str()
                    } else {
                        ""
                    },
                ),
                // The claim made for an update that did not happen.
                _ => (
                    if old_name != username_key {
                        username_key
                    } else {
                        ""
                    },
                    if old_email != email_key { email_key } else { "" },
                ),
            };
            self.release(&uid, gone_name, gone_email).await;
        }
        if let UserUpdate::Updated {
            cutoff_ms: Some(_), ..
        } = &outcome
        {
            self.drain_owed(&uid).await?;
        }
        Ok(outcome)
    }
}

impl RedisStore {
    /// Cluster only: appends what the users indexed at least `older_than_ms` ago still owe, and
    /// drops them from the index once they owe nothing (see the module doc). Returns how many users
    /// it looked at.
    async fn sweep(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        let mut due = self.owed_index.prepare_invoke();
        due.key(self.keys.owed_index())
            .arg("due")
            .arg(older_than_ms.max(0))
            .arg(self.time_offset_ms())
            .arg(SWEEP_BATCH);
        let flat: Vec<String> = from_value(self.invoke(due).await?)?;
        let mut seen = 0;
        for pair in flat.chunks(2) {
            let [uid, score] = pair else { continue };
            seen += 1;
            if self.drain_owed(uid).await? == 0 {
                let mut done = self.owed_index.prepare_invoke();
                done.key(self.keys.owed_index()).arg("done").arg(uid).arg(score);
                self.invoke_durable(done).await?;
            }
        }
        Ok(seen)
    }
}

#[async_trait]
impl FeedStore for RedisStore {
    async fn sweep_owed(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        if !self.cluster {
            return Ok(0);
        }
        self.sweep(older_than_ms).await
    }

    async fn feed_after(
        &self,
        after: EntryId,
        count: usize,
    ) -> Result<Vec<(EntryId, FeedEntry)>, StoreError> {
        let reply: redis::Value = self
            .query(
                redis::cmd("XRANGE")
                    .arg(self.keys.revocation_feed())
                    .arg(format!("({after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count.max(1)),
            )
            .await?;
        shared::revocation::feed::parse_range(reply)
            .map_err(StoreError::Protocol)?
            .into_iter()
            .map(|(id, fields)| {
                let entry = FeedEntry::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(StoreError::Protocol)?;
                Ok((id, entry))
            })
            .collect()
    }
}

#[async_trait]
impl MfaStore for RedisStore {
    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError> {
        let mut inv = self.mfa_record.prepare_invoke();
        inv.key(self.keys.mfa(uid)).key(self.keys.mfa_pending(uid));
        let parts: Vec<String> = from_value(self.invoke(inv).await?)?;
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        match parts.as_slice() {
            [active, pending] => Ok(MfaRecord {
                active: some(active),
                pending: some(pending),
            }),
            _ => Err(StoreError::Protocol(format!("unexpected MFA reply {parts:?}"))),
        }
    }

    async fn mfa_set_pending(&self, uid: &str, sealed: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_set_pending.prepare_invoke();
        inv.key(self.keys.mfa(uid))
            .key(self.keys.mfa_pending(uid))
            .arg(sealed)
            .arg(ttl_ms.max(1));
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_activate(
        &self,
        uid: &str,
        sealed: &str,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let mut inv = self.mfa_activate.prepare_invoke();
        inv.key(self.keys.mfa(uid))
            .key(self.keys.mfa_pending(uid))
            .key(self.keys.mfa_recovery(uid))
            .arg(sealed)
            .arg(step);
        for hash in recovery {
            inv.arg(hash);
        }
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_accept_step.prepare_invoke();
        inv.key(self.keys.mfa(uid)).arg(step);
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .query_durable(redis::cmd("SREM").arg(self.keys.mfa_recovery(uid)).arg(hash))
            .await?;
        Ok(removed == 1)
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        self.query::<i64>(
            redis::cmd("DEL")
                .arg(self.keys.mfa(uid))
                .arg(self.keys.mfa_pending(uid))
                .arg(self.keys.mfa_recovery(uid)),
        )
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl KeyStore for RedisStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let all: Map<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.signing_keys()))
            .await?;
        all.iter()
            .filter(|(field, _)| !field.starts_with('~'))
            .map(|(_, json)| {
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Protocol(format!("a signing key record does not parse: {e}")))
            })
            .collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, after: Option<&str>) -> Result<bool, StoreError> {
        let record = serde_json::to_string(key).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut inv = self.keys_add.prepare_invoke();
        inv.key(self.keys.signing_keys())
            .arg(&key.alg)
            .arg(after.unwrap_or(""))
            .arg(&key.kid)
            .arg(record);
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn remove_signing_keys(&self, kids: &[String]) -> Result<(), StoreError> {
        if kids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(self.keys.signing_keys());
        for kid in kids {
            cmd.arg(kid);
        }
        self.query_durable::<i64>(&cmd).await.map(|_| ())
    }
}

fn client_of(json: &str) -> Result<ClientRecord, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Protocol(format!("a client record does not parse: {e}")))
}

#[async_trait]
impl ClientStore for RedisStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if client_id.starts_with('~') {
            return Ok(None);
        }
        let json: Option<String> = self
            .query(redis::cmd("HGET").arg(self.keys.oauth_clients()).arg(client_id))
            .await?;
        json.as_deref().map(client_of).transpose()
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let all: Map<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.oauth_clients()))
            .await?;
        let mut clients = all
            .iter()
            .filter(|(field, _)| !field.starts_with('~'))
            .map(|(_, json)| client_of(json))
            .collect::<Result<Vec<_>, _>>()?;
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<Option<ClientRecord>, StoreError> {
        if client.client_id.starts_with('~') {
            return Ok(None);
        }
        let mut stored = client.clone();
        stored.version = client.version + 1;
        let record = serde_json::to_string(&stored).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut inv = self.client_put.prepare_invoke();
        inv.key(self.keys.oauth_clients())
            .arg(&client.client_id)
            .arg(client.version)
            .arg(record);
        let version = from_value::<u64>(self.invoke_durable(inv).await?)?;
        Ok((version == stored.version).then_some(stored))
    }
}

#[async_trait]
impl ChallengeStore for RedisStore {
    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError> {
        let mut inv = self.challenge_try.prepare_invoke();
        inv.key(self.keys.challenge(jti))
            .arg(max_tries)
            .arg(ttl_ms.max(1));
        let reply: String = from_value(self.invoke_durable(inv).await?)?;
        match reply.as_str() {
            "allowed" => Ok(ChallengeTry::Allowed),
            "exhausted" => Ok(ChallengeTry::Exhausted),
            "used" => Ok(ChallengeTry::Used),
            other => Err(StoreError::Protocol(format!(
                "unexpected challenge reply {other}"
            ))),
        }
    }

    async fn mfa_challenge_finish(&self, jti: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let mut inv = self.challenge_finish.prepare_invoke();
        inv.key(self.keys.challenge(jti)).arg(ttl_ms.max(1));
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }
}

#[async_trait]
impl LimitStore for RedisStore {
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        if self.cluster {
            // One call per counter (each in a slot of its own), sent together; the first over its
            // limit, in order, decides.
            let calls = hits
                .iter()
                .map(|c| (c, true))
                .chain(locks.iter().map(|c| (c, false)))
                .map(|(c, hit)| async move { from_value::<i64>(self.invoke(self.gate_call(c, hit)).await?) });
            let ttls = futures::future::try_join_all(calls).await?;
            return Ok(ttls
                .into_iter()
                .map(gate_of)
                .find(|g| *g != Gate::Open)
                .unwrap_or(Gate::Open));
        }
        let mut inv = self.gate.prepare_invoke();
        inv.arg(hits.len());
        for c in hits.iter().chain(locks) {
            inv.key(self.keys.rate_limit(&c.key))
                .arg(c.limit)
                .arg(c.window_ms.max(1));
        }
        let ttl: i64 = from_value(self.invoke(inv).await?)?;
        Ok(gate_of(ttl))
    }

    async fn fail(&self, counters: &[Counter]) -> Result<u64, StoreError> {
        if counters.is_empty() {
            return Ok(0);
        }
        let fail_call = |chunk: &[Counter]| {
            let mut inv = self.fail.prepare_invoke();
            for c in chunk {
                inv.key(self.keys.rate_limit(&c.key)).arg(c.window_ms.max(1));
            }
            inv
        };
        if self.cluster {
            let calls = counters
                .chunks(1)
                .map(|one| async move { from_value::<u64>(self.invoke_durable(fail_call(one)).await?) });
            let counts = futures::future::try_join_all(calls).await?;
            return Ok(counts.into_iter().max().unwrap_or(0));
        }
        from_value::<u64>(self.invoke_durable(fail_call(counters)).await?)
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        if self.cluster {
            let calls = keys.iter().map(|key| async move {
                self.query::<i64>(redis::cmd("DEL").arg(self.keys.rate_limit(key)))
                    .await
            });
            return futures::future::try_join_all(calls).await.map(|_| ());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.keys.rate_limit(key));
        }
        self.query::<i64>(&cmd).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
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

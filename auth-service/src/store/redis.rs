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

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use redis::Script;
use shared::store::{from_value, RedisConn};

use super::keys::Keys;
use super::{
    ChallengeStore, ChallengeTry, Counter, EntryId, FeedEntry, FeedStore, Gate, Generation, LimitStore,
    MfaRecord, MfaStore, NewSession, RevocationStore, RotateOutcome, Rotation, SessionStore, SessionView,
    StoreError, StoreHealth, Taken, UserRecord, UserStore, UserUpdate,
};

/// One script: the files of `lua/` named, in order (the fragments it needs first: `now` defines
/// `now_ms`, `counter` the rate-limit counter functions), concatenated at compile time.
macro_rules! lua {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("lua/", $file, ".lua"))),+)
    };
}

const CREATE: &str = lua!("now", "create_session");
const ROTATE: &str = lua!("now", "counter", "feed", "rotate");
const VIEW: &str = lua!("session_view");
const REVOKE_SESSION: &str = lua!("now", "feed", "revoke_session");
const REVOKE_USER: &str = lua!("now", "feed", "cutoff", "revoke_user");
const USER_FIND: &str = lua!("user_find");
const USERS_AFTER: &str = lua!("users_after");
const USER_CREATE: &str = lua!("user_create");
const USER_UPDATE: &str = lua!("now", "feed", "cutoff", "user_update");
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
    conn: RedisConn,
    keys: Keys,
    create: Script,
    rotate: Script,
    view: Script,
    revoke_session: Script,
    revoke_user: Script,
    user_find: Script,
    users_after: Script,
    user_create: Script,
    user_update: Script,
    gate: Script,
    fail: Script,
    mfa_record: Script,
    mfa_set_pending: Script,
    mfa_activate: Script,
    mfa_accept_step: Script,
    challenge_try: Script,
    challenge_finish: Script,
    /// Added to Redis `TIME` by the scripts; tests only (see [`RedisStore::advance_time_ms`]).
    time_offset_ms: AtomicI64,
    /// How long feed entries are kept (ms): the longest access-token life plus leeway.
    feed_life_ms: i64,
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
            conn: RedisConn::to(target)?,
            keys: Keys::new(prefix),
            create: Script::new(CREATE),
            rotate: Script::new(ROTATE),
            view: Script::new(VIEW),
            revoke_session: Script::new(REVOKE_SESSION),
            revoke_user: Script::new(REVOKE_USER),
            user_find: Script::new(USER_FIND),
            users_after: Script::new(USERS_AFTER),
            user_create: Script::new(USER_CREATE),
            user_update: Script::new(USER_UPDATE),
            gate: Script::new(GATE),
            fail: Script::new(FAIL),
            mfa_record: Script::new(MFA_RECORD),
            mfa_set_pending: Script::new(MFA_SET_PENDING),
            mfa_activate: Script::new(MFA_ACTIVATE),
            mfa_accept_step: Script::new(MFA_ACCEPT_STEP),
            challenge_try: Script::new(CHALLENGE_TRY),
            challenge_finish: Script::new(CHALLENGE_FINISH),
            time_offset_ms: AtomicI64::new(0),
            feed_life_ms: super::DEFAULT_FEED_LIFE_MS,
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

    fn time_offset_ms(&self) -> i64 {
        self.time_offset_ms.load(Ordering::SeqCst)
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
            record(user)?,
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

/// A user's record from its HGETALL (field, value, ...). Never prints the values: they hold the
/// password hash.
fn record(flat: &[String]) -> Result<UserRecord, StoreError> {
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
    for pair in flat.chunks(2) {
        let [field, value] = pair else {
            return Err(StoreError::Protocol("a user record has an odd length".into()));
        };
        match field.as_str() {
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
        self.conn.ping().await
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, s: &NewSession) -> Result<i64, StoreError> {
        let mut inv = self.create.prepare_invoke();
        inv.key(self.keys.session(&s.sid))
            .key(self.keys.cutoff(&s.uid))
            .arg(self.time_offset_ms())
            .arg(&s.uid)
            .arg(&s.fingerprint)
            .arg(&s.refresh_jti)
            .arg(&s.access_jti)
            .arg(s.ttl_ms.max(1));
        let reply: String = redis::from_redis_value(self.conn.invoke(inv).await?)
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        int(&reply)
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let mut inv = self.rotate.prepare_invoke();
        inv.key(self.keys.session(&r.sid))
            .key(self.keys.cutoff(&r.uid))
            .key(self.keys.revocation_feed())
            .key(self.keys.user(&r.uid))
            .arg(self.time_offset_ms())
            .arg(&r.uid)
            .arg("")
            .arg(&r.presented_jti)
            .arg(r.grace_ms)
            .arg(&r.new_refresh_jti)
            .arg(&r.new_access_jti)
            .arg(r.ttl_ms.max(1))
            .arg(&r.sid)
            .arg(self.feed_life_ms);
        if let Some(gate) = &r.gate {
            inv.key(self.keys.rate_limit(&gate.key))
                .arg(gate.limit)
                .arg(gate.window_ms.max(1));
        }
        let parts = from_value::<Vec<String>>(self.conn.invoke(inv).await?)?;
        match parts.first().map(String::as_str) {
            Some("limited") => Ok(RotateOutcome::Limited {
                retry_after_ms: parts.get(1).map(|s| int(s)).transpose()?.unwrap_or(1000),
            }),
            Some("rotated") => {
                let (generation, user) = generation(&parts)?;
                Ok(RotateOutcome::Rotated(generation, user))
            }
            Some("replayed") => {
                let (generation, user) = generation(&parts)?;
                Ok(RotateOutcome::Replayed(generation, user))
            }
            Some("reused") => Ok(RotateOutcome::Reused),
            Some("revoked") => Ok(RotateOutcome::Revoked),
            _ => Err(StoreError::Protocol("unexpected rotation reply".into())),
        }
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let mut inv = self.view.prepare_invoke();
        inv.key(self.keys.session(sid))
            .key(self.keys.cutoff(uid))
            .key(self.keys.user(uid));
        if let Some(jti) = access_jti {
            inv.key(self.keys.revoked_jti(jti));
        }
        inv.arg(uid);
        let parts = from_value::<Vec<String>>(self.conn.invoke(inv).await?)?;
        match parts.as_slice() {
            [state] if state == "revoked" => Ok(SessionView::Revoked),
            [state, cur, user @ ..] if state == "active" => Ok(SessionView::Active {
                user: Box::new(record(user)?),
                current_refresh_jti: cur.clone(),
            }),
            _ => Err(StoreError::Protocol("unexpected session reply".into())),
        }
    }
}

#[async_trait]
impl RevocationStore for RedisStore {
    async fn revoke_session(&self, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        let mut inv = self.revoke_session.prepare_invoke();
        inv.key(self.keys.session(sid))
            .key(self.keys.revocation_feed())
            .arg(self.time_offset_ms())
            .arg(sid)
            .arg(self.feed_life_ms);
        if let Some((jti, ttl_ms)) = jti.filter(|(_, ttl_ms)| *ttl_ms > 0) {
            inv.key(self.keys.revoked_jti(jti)).arg(jti).arg(ttl_ms);
        }
        self.conn.invoke(inv).await.map(|_| ())
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        let mut inv = self.revoke_user.prepare_invoke();
        inv.key(self.keys.cutoff(uid))
            .key(self.keys.revocation_feed())
            .arg(self.time_offset_ms())
            .arg(ttl_ms.max(1))
            .arg(uid)
            .arg(self.feed_life_ms);
        let reply: String = from_value(self.conn.invoke(inv).await?)?;
        int(&reply)
    }
}

#[async_trait]
impl UserStore for RedisStore {
    async fn user(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        // A plain HGETALL answers a map (RESP3); inside the scripts it is a flat array, as `record` reads.
        let fields: std::collections::HashMap<String, String> = self
            .conn
            .query(redis::cmd("HGETALL").arg(self.keys.user(&id.to_string())))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let flat: Vec<String> = fields.into_iter().flat_map(|(k, v)| [k, v]).collect();
        record(&flat).map(Some)
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(self.keys.users_by_username(), username_key).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(self.keys.users_by_email(), email_key).await
    }

    async fn users_after(&self, after: u64, limit: usize) -> Result<Vec<UserRecord>, StoreError> {
        let mut inv = self.users_after.prepare_invoke();
        inv.key(self.keys.user_ids())
            .arg(after)
            .arg(limit.max(1))
            .arg(self.keys.user_prefix());
        let pages: Vec<Vec<String>> = from_value(self.conn.invoke(inv).await?)?;
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
        let mut inv = self.user_create.prepare_invoke();
        inv.key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.user_ids())
            .key(self.keys.user_seq())
            .arg(self.keys.user_prefix())
            .arg(username_key)
            .arg(email_key)
            .arg(user.id);
        for (field, value) in user_fields(user, username_key, email_key) {
            inv.arg(field).arg(value);
        }
        let parts: Vec<String> = from_value(self.conn.invoke(inv).await?)?;
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
        let uid = user.id.to_string();
        let mut inv = self.user_update.prepare_invoke();
        inv.key(self.keys.user(&uid))
            .key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.cutoff(&uid))
            .key(self.keys.revocation_feed())
            .arg(self.time_offset_ms())
            .arg(&uid)
            .arg(user.version)
            .arg(username_key)
            .arg(email_key)
            .arg(end_sessions.map_or(0, |ms| ms.max(1)))
            .arg(self.feed_life_ms);
        for (field, value) in user_fields(user, username_key, email_key) {
            inv.arg(field).arg(value);
        }
        let parts: Vec<String> = from_value(self.conn.invoke(inv).await?)?;
        match parts.as_slice() {
            [kind, version, cutoff] if kind == "updated" => Ok(UserUpdate::Updated {
                user: Box::new(UserRecord {
                    version: int(version)? as u64,
                    ..user.clone()
                }),
                cutoff_ms: (!cutoff.is_empty()).then(|| int(cutoff)).transpose()?,
            }),
            [kind] if kind == "stale" => Ok(UserUpdate::Stale),
            [kind] if kind == "missing" => Ok(UserUpdate::Missing),
            [kind, which] if kind == "taken" => Ok(UserUpdate::Taken(taken(which)?)),
            _ => Err(StoreError::Protocol("unexpected user_update reply".into())),
        }
    }
}

impl RedisStore {
    async fn find(&self, index: String, key: &str) -> Result<Option<UserRecord>, StoreError> {
        let mut inv = self.user_find.prepare_invoke();
        inv.key(index).arg(key).arg(self.keys.user_prefix());
        let flat: Vec<String> = from_value(self.conn.invoke(inv).await?)?;
        if flat.is_empty() {
            return Ok(None);
        }
        record(&flat).map(Some)
    }
}

#[async_trait]
impl FeedStore for RedisStore {
    async fn feed_after(
        &self,
        after: EntryId,
        count: usize,
    ) -> Result<Vec<(EntryId, FeedEntry)>, StoreError> {
        let reply: redis::Value = self
            .conn
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
        let parts: Vec<String> = from_value(self.conn.invoke(inv).await?)?;
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
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
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
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_accept_step.prepare_invoke();
        inv.key(self.keys.mfa(uid)).arg(step);
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .conn
            .query(redis::cmd("SREM").arg(self.keys.mfa_recovery(uid)).arg(hash))
            .await?;
        Ok(removed == 1)
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        self.conn
            .query::<i64>(
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
        let reply: String = from_value(self.conn.invoke(inv).await?)?;
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
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }
}

#[async_trait]
impl LimitStore for RedisStore {
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        let mut inv = self.gate.prepare_invoke();
        inv.arg(hits.len());
        for c in hits.iter().chain(locks) {
            inv.key(self.keys.rate_limit(&c.key))
                .arg(c.limit)
                .arg(c.window_ms.max(1));
        }
        let ttl: i64 = from_value(self.conn.invoke(inv).await?)?;
        Ok(if ttl < 0 {
            Gate::Open
        } else {
            Gate::Limited { retry_after_ms: ttl }
        })
    }

    async fn fail(&self, counters: &[Counter]) -> Result<u64, StoreError> {
        if counters.is_empty() {
            return Ok(0);
        }
        let mut inv = self.fail.prepare_invoke();
        for c in counters {
            inv.key(self.keys.rate_limit(&c.key)).arg(c.window_ms.max(1));
        }
        from_value::<u64>(self.conn.invoke(inv).await?)
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.keys.rate_limit(key));
        }
        self.conn.query::<i64>(&cmd).await.map(|_| ())
    }
}

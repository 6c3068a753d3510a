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
    StoreError, StoreHealth,
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
const NOTE_CREDENTIALS: &str = lua!("now", "feed", "cutoff", "note_credentials");
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
    note_credentials: Script,
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
        Ok(Self {
            conn: RedisConn::open(url)?,
            keys: Keys::new(prefix),
            create: Script::new(CREATE),
            rotate: Script::new(ROTATE),
            view: Script::new(VIEW),
            revoke_session: Script::new(REVOKE_SESSION),
            revoke_user: Script::new(REVOKE_USER),
            note_credentials: Script::new(NOTE_CREDENTIALS),
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

fn generation(parts: &[String]) -> Result<Generation, StoreError> {
    match parts {
        [_, started, issued, refresh, access] => Ok(Generation {
            started_ms: int(started)?,
            issued_ms: int(issued)?,
            refresh_jti: refresh.clone(),
            access_jti: access.clone(),
        }),
        _ => Err(StoreError::Protocol(format!(
            "unexpected rotation reply {parts:?}"
        ))),
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
            .arg(self.time_offset_ms())
            .arg(&r.uid)
            .arg(&r.fingerprint)
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
            Some("rotated") => Ok(RotateOutcome::Rotated(generation(&parts)?)),
            Some("replayed") => Ok(RotateOutcome::Replayed(generation(&parts)?)),
            Some("reused") => Ok(RotateOutcome::Reused),
            Some("revoked") => Ok(RotateOutcome::Revoked),
            _ => Err(StoreError::Protocol(format!(
                "unexpected rotation reply {parts:?}"
            ))),
        }
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let mut inv = self.view.prepare_invoke();
        inv.key(self.keys.session(sid)).key(self.keys.cutoff(uid));
        if let Some(jti) = access_jti {
            inv.key(self.keys.revoked_jti(jti));
        }
        inv.arg(uid);
        let parts = from_value::<Vec<String>>(self.conn.invoke(inv).await?)?;
        match parts.as_slice() {
            [state] if state == "revoked" => Ok(SessionView::Revoked),
            [state, fp, cur] if state == "active" => Ok(SessionView::Active {
                fingerprint: fp.clone(),
                current_refresh_jti: cur.clone(),
            }),
            _ => Err(StoreError::Protocol(format!(
                "unexpected session reply {parts:?}"
            ))),
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

    async fn note_credentials(&self, uid: &str, state: &str, ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut inv = self.note_credentials.prepare_invoke();
        inv.key(self.keys.credentials(uid))
            .key(self.keys.cutoff(uid))
            .key(self.keys.revocation_feed())
            .arg(self.time_offset_ms())
            .arg(uid)
            .arg(state)
            .arg(ttl_ms.max(1))
            .arg(self.feed_life_ms);
        let reply: String = from_value(self.conn.invoke(inv).await?)?;
        if reply.is_empty() {
            Ok(None)
        } else {
            int(&reply).map(Some)
        }
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

    async fn fail(&self, counters: &[Counter]) -> Result<(), StoreError> {
        if counters.is_empty() {
            return Ok(());
        }
        let mut inv = self.fail.prepare_invoke();
        for c in counters {
            inv.key(self.keys.rate_limit(&c.key)).arg(c.window_ms.max(1));
        }
        self.conn.invoke(inv).await.map(|_| ())
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

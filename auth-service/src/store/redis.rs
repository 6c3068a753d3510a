//! The Redis store: every operation is one Lua script, so it is atomic and costs one round trip.
//!
//! The connection is [`shared::store::RedisConn`]: made on first use, self-healing, with a deadline on
//! every call; a timeout or a connection error is a [`StoreError`] and the request fails closed (503).
//!
//! Times are Redis's: the scripts that stamp or compare one read `TIME` (Redis 7 replicates a script's
//! effects, not the script, so `TIME` is allowed in a script that writes). Rate-limit, challenge and
//! record lifetimes are `PEXPIRE`/`PX` TTLs, which Redis also counts on its own clock. Tests may shift
//! this store's "now" by a fixed offset ([`RedisStore::advance_time_ms`]); it is 0 otherwise.
//!
//! Keys, under the configured prefix `P`:
//! - `P` `auth:sess:<sid>`: hash `uid fp started cur cur_a prev rot rev`, TTL = life of its last tokens;
//! - `P` `auth:revoked:<jti>`: a revoked access token, TTL = what was left of its life;
//! - `P` `auth:cutoff:<uid>`: sessions started at or before this ms (Redis time) are revoked (logout-all);
//! - `P` `auth:mfa:<uid>`: hash `active` (sealed secret) and `last` (last accepted TOTP step), kept;
//! - `P` `auth:mfa-pending:<uid>`: a sealed secret awaiting activation, with a TTL;
//! - `P` `auth:mfa-rc:<uid>`: set of recovery-code HMACs;
//! - `P` `auth:rl:<counter>`: rate-limit counters, TTL = their window;
//! - `P` `auth:chal:<jti>`: hash `tries used` of a login challenge, TTL = the challenge's life.

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use redis::Script;
use shared::store::{from_value, RedisConn};

use super::{
    ChallengeTry, Counter, Gate, Generation, MfaRecord, NewSession, RotateOutcome, Rotation, SessionView,
    Store, StoreError,
};

/// Redis's now in ms plus the test offset in `ARGV[1]` of every script that reads the time, as a
/// decimal string (Lua numbers are doubles: exact for ms since the epoch, but `tostring` may not print
/// them whole).
macro_rules! now_ms {
    () => {
        r#"
local t = redis.call('TIME')
local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1]))
"#
    };
}

const CREATE: &str = concat!(
    now_ms!(),
    r#"
local started = now
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(started) <= tonumber(cutoff) then started = string.format('%d', tonumber(cutoff) + 1) end
redis.call('HSET', KEYS[1], 'uid', ARGV[2], 'fp', ARGV[3], 'started', started, 'cur', ARGV[4],
  'cur_a', ARGV[5], 'prev', '', 'rot', started, 'rev', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return started
"#
);

/// `ARGV[1]` is how many of the KEYS are hit counters (the rest are lock counters); then each key's
/// limit and window (ms) as `ARGV[2i]`, `ARGV[2i+1]`. A hit counter counts one and is over when past
/// its limit; a lock counter is only read and is over at its limit. Returns -1 when none is over, else
/// the ms left in the window of the first one that is.
const GATE: &str = r#"
local hits = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local over
  if i <= hits then
    local n = redis.call('INCR', key)
    if n == 1 then redis.call('PEXPIRE', key, window) end
    over = n > limit
  else
    over = tonumber(redis.call('GET', key) or '0') >= limit
  end
  if over then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    return ttl
  end
end
return -1
"#;

/// One failure on each key; `ARGV[i]` is key i's window (ms), which starts with its first failure.
const FAIL: &str = r#"
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
  end
end
return 1
"#;

/// `ARGV[1]` the time offset, then uid, fingerprint, presented jti, grace (ms), the new pair's jtis,
/// the record's TTL, and the gate's limit and window if `KEYS[3]` (the gate) is given.
const ROTATE: &str = concat!(
    now_ms!(),
    r#"
if KEYS[3] then
  local n = redis.call('INCR', KEYS[3])
  if n == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[10]) end
  if n > tonumber(ARGV[9]) then
    local ttl = redis.call('PTTL', KEYS[3])
    if ttl < 0 then ttl = tonumber(ARGV[10]) end
    return {'limited', tostring(ttl)}
  end
end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'cur_a', 'prev', 'rot', 'rev')
if not s[1] or s[8] == '1' or s[1] ~= ARGV[2] then return {'revoked'} end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return {'revoked'} end
if s[2] ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'rev', '1')
  return {'revoked'}
end
if ARGV[4] == s[4] then
  redis.call('HSET', KEYS[1], 'prev', s[4], 'cur', ARGV[6], 'cur_a', ARGV[7], 'rot', now)
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  return {'rotated', s[3], now, ARGV[6], ARGV[7]}
end
local grace = tonumber(ARGV[5])
if s[6] ~= '' and ARGV[4] == s[6] and grace > 0 and tonumber(now) - tonumber(s[7]) <= grace then
  return {'replayed', s[3], s[7], s[4], s[5]}
end
redis.call('HSET', KEYS[1], 'rev', '1')
return {'reused'}
"#
);

const VIEW: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 1 then return {'revoked'} end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'rev')
if not s[1] or s[5] == '1' or s[1] ~= ARGV[1] then return {'revoked'} end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return {'revoked'} end
return {'active', s[2], s[4]}
"#;

const REVOKE_SESSION: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'rev', '1') end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
return 1
"#;

const REVOKE_USER: &str = concat!(
    now_ms!(),
    r#"
local at = now
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(at) then at = current end
redis.call('SET', KEYS[1], at, 'PX', ARGV[2])
return at
"#
);

const MFA_RECORD: &str = r#"
return {redis.call('HGET', KEYS[1], 'active') or '', redis.call('GET', KEYS[2]) or ''}
"#;

const MFA_SET_PENDING: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'active') == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"#;

const MFA_ACTIVATE: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'active') == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local last = redis.call('HGET', KEYS[1], 'last')
if last and tonumber(ARGV[2]) <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], 'active', ARGV[1], 'last', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 3, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
"#;

const MFA_ACCEPT_STEP: &str = r#"
if redis.call('HEXISTS', KEYS[1], 'active') == 0 then return 0 end
local last = redis.call('HGET', KEYS[1], 'last')
if last and tonumber(ARGV[1]) <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
return 1
"#;

const CHALLENGE_TRY: &str = r#"
if redis.call('HGET', KEYS[1], 'used') == '1' then return 'used' end
local n = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 'exhausted' end
return 'allowed'
"#;

const CHALLENGE_FINISH: &str = r#"
if redis.call('HGET', KEYS[1], 'used') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'used', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"#;

/// See the module doc.
pub struct RedisStore {
    conn: RedisConn,
    prefix: String,
    create: Script,
    rotate: Script,
    view: Script,
    revoke_session: Script,
    revoke_user: Script,
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
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Parses the URL now (a bad one stops the start); connects on first use.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conn: RedisConn::open(url)?,
            prefix: format!("{prefix}auth:"),
            create: Script::new(CREATE),
            rotate: Script::new(ROTATE),
            view: Script::new(VIEW),
            revoke_session: Script::new(REVOKE_SESSION),
            revoke_user: Script::new(REVOKE_USER),
            gate: Script::new(GATE),
            fail: Script::new(FAIL),
            mfa_record: Script::new(MFA_RECORD),
            mfa_set_pending: Script::new(MFA_SET_PENDING),
            mfa_activate: Script::new(MFA_ACTIVATE),
            mfa_accept_step: Script::new(MFA_ACCEPT_STEP),
            challenge_try: Script::new(CHALLENGE_TRY),
            challenge_finish: Script::new(CHALLENGE_FINISH),
            time_offset_ms: AtomicI64::new(0),
        })
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

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
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
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await
    }

    async fn create_session(&self, s: &NewSession) -> Result<i64, StoreError> {
        let mut inv = self.create.prepare_invoke();
        inv.key(self.key("sess", &s.sid))
            .key(self.key("cutoff", &s.uid))
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
        inv.key(self.key("sess", &r.sid))
            .key(self.key("cutoff", &r.uid))
            .arg(self.time_offset_ms())
            .arg(&r.uid)
            .arg(&r.fingerprint)
            .arg(&r.presented_jti)
            .arg(r.grace_ms)
            .arg(&r.new_refresh_jti)
            .arg(&r.new_access_jti)
            .arg(r.ttl_ms.max(1));
        if let Some(gate) = &r.gate {
            inv.key(self.key("rl", &gate.key))
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

    async fn session_view(&self, sid: &str, uid: &str, jti: &str) -> Result<SessionView, StoreError> {
        let mut inv = self.view.prepare_invoke();
        inv.key(self.key("sess", sid))
            .key(self.key("cutoff", uid))
            .key(self.key("revoked", jti))
            .arg(uid);
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

    async fn revoke_session(&self, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        let (jti, ttl) = jti.unwrap_or(("-", 0));
        let mut inv = self.revoke_session.prepare_invoke();
        inv.key(self.key("sess", sid))
            .key(self.key("revoked", jti))
            .arg(ttl.max(0));
        self.conn.invoke(inv).await.map(|_| ())
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        let mut inv = self.revoke_user.prepare_invoke();
        inv.key(self.key("cutoff", uid))
            .arg(self.time_offset_ms())
            .arg(ttl_ms.max(1));
        let reply: String = from_value(self.conn.invoke(inv).await?)?;
        int(&reply)
    }

    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError> {
        let mut inv = self.mfa_record.prepare_invoke();
        inv.key(self.key("mfa", uid)).key(self.key("mfa-pending", uid));
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
        inv.key(self.key("mfa", uid))
            .key(self.key("mfa-pending", uid))
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
        inv.key(self.key("mfa", uid))
            .key(self.key("mfa-pending", uid))
            .key(self.key("mfa-rc", uid))
            .arg(sealed)
            .arg(step);
        for hash in recovery {
            inv.arg(hash);
        }
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inv = self.mfa_accept_step.prepare_invoke();
        inv.key(self.key("mfa", uid)).arg(step);
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .conn
            .query(redis::cmd("SREM").arg(self.key("mfa-rc", uid)).arg(hash))
            .await?;
        Ok(removed == 1)
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        self.conn
            .query::<i64>(
                redis::cmd("DEL")
                    .arg(self.key("mfa", uid))
                    .arg(self.key("mfa-pending", uid))
                    .arg(self.key("mfa-rc", uid)),
            )
            .await
            .map(|_| ())
    }

    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError> {
        let mut inv = self.challenge_try.prepare_invoke();
        inv.key(self.key("chal", jti)).arg(max_tries).arg(ttl_ms.max(1));
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
        inv.key(self.key("chal", jti)).arg(ttl_ms.max(1));
        Ok(from_value::<i64>(self.conn.invoke(inv).await?)? == 1)
    }

    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        let mut inv = self.gate.prepare_invoke();
        inv.arg(hits.len());
        for c in hits.iter().chain(locks) {
            inv.key(self.key("rl", &c.key))
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
            inv.key(self.key("rl", &c.key)).arg(c.window_ms.max(1));
        }
        self.conn.invoke(inv).await.map(|_| ())
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.key("rl", key));
        }
        self.conn.query::<i64>(&cmd).await.map(|_| ())
    }
}

//! The embedded in-process store, used when `REDIS_URL` is empty so `cargo run` works on a bare machine.
//!
//! Every operation takes the one lock, does its whole check-and-write, and releases it: the same
//! atomicity the Lua scripts give in Redis. The injected clock is the store's clock: session starts,
//! issue times, cut-offs and the grace read it, as the scripts read Redis `TIME`. Entries expire by it;
//! expired ones are dropped lazily and swept every [`SWEEP_EVERY`] writes, so memory stays bounded.
//!
//! The revocation feed is an in-process queue with the Redis stream's semantics: every revocation
//! appends an entry (ids `<ms>-<seq>` from the store's clock, increasing) in the same locked step, and
//! each append drops the entries older than the feed life ([`FeedStore`] reads it back).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use shared::SharedClock;

use shared::revocation::Revoked;

use super::{
    ChallengeStore, ChallengeTry, Counter, EntryId, FeedEntry, FeedStore, Gate, Generation, LimitStore,
    MfaRecord, MfaStore, NewSession, RevocationStore, RotateOutcome, Rotation, SessionStore, SessionView,
    StoreError, StoreHealth,
};

const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Clone)]
struct SessionRecord {
    uid: String,
    fingerprint: String,
    started_ms: i64,
    current: (String, String),
    previous: Option<String>,
    rotated_ms: i64,
    revoked: bool,
    expires_ms: i64,
}

#[derive(Debug, Default)]
struct MfaEntry {
    active: Option<String>,
    last_step: Option<i64>,
    recovery: HashSet<String>,
}

#[derive(Debug, Default)]
struct Challenge {
    tries: u32,
    used: bool,
    expires_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, SessionRecord>,
    revoked_jtis: HashMap<String, i64>,
    cutoffs: HashMap<String, (i64, i64)>,
    mfa: HashMap<String, MfaEntry>,
    mfa_pending: HashMap<String, (String, i64)>,
    challenges: HashMap<String, Challenge>,
    counters: HashMap<String, (u64, i64)>,
    /// The revocation feed, oldest first.
    feed: VecDeque<(EntryId, FeedEntry)>,
    feed_last: EntryId,
    /// Users' credential states at the last start ([`RevocationStore::note_credentials`]).
    credentials: HashMap<String, String>,
    writes: u64,
}

impl Inner {
    fn session(&self, sid: &str, now: i64) -> Option<&SessionRecord> {
        self.sessions.get(sid).filter(|s| s.expires_ms > now)
    }

    fn cutoff(&self, uid: &str, now: i64) -> Option<i64> {
        self.cutoffs
            .get(uid)
            .filter(|(_, exp)| *exp > now)
            .map(|(at, _)| *at)
    }

    /// One hit on a counter; `Some(ms left)` when over its limit.
    fn hit(&mut self, counter: &Counter, now: i64) -> Option<i64> {
        let entry = self.counters.entry(counter.key.clone()).or_insert((0, 0));
        if entry.1 <= now {
            *entry = (0, now + counter.window_ms);
        }
        entry.0 += 1;
        (entry.0 > counter.limit).then_some(entry.1 - now)
    }

    /// Whether a counter has reached its limit, without counting; `Some(ms left)` when it has.
    fn locked(&self, counter: &Counter, now: i64) -> Option<i64> {
        self.counters
            .get(&counter.key)
            .filter(|(n, expires)| *expires > now && *n >= counter.limit)
            .map(|(_, expires)| expires - now)
    }

    /// Appends a revocation to the feed with the next id, and drops the entries older than `life_ms`.
    fn feed_append(&mut self, now: i64, life_ms: i64, revoked: Revoked, until_ms: i64) {
        let ms = u64::try_from(now).unwrap_or(0);
        let id = if ms > self.feed_last.ms {
            EntryId { ms, seq: 0 }
        } else {
            EntryId {
                ms: self.feed_last.ms,
                seq: self.feed_last.seq + 1,
            }
        };
        self.feed_last = id;
        self.feed.push_back((id, FeedEntry { revoked, until_ms }));
        let min_ms = u64::try_from(now - life_ms).unwrap_or(0);
        while self.feed.front().is_some_and(|(id, _)| id.ms < min_ms) {
            self.feed.pop_front();
        }
    }

    /// Moves a user's cut-off to the end of the current second, or past every session started after
    /// an earlier cut-off (they start at the next second), and appends it to the feed; as `cutoff.lua`.
    fn cut_off(&mut self, uid: &str, ttl_ms: i64, now: i64, life_ms: i64) -> i64 {
        let from = self.cutoff(uid, now).map_or(now, |c| now.max(c + 1));
        let at = from.div_euclid(1000) * 1000 + 999;
        self.cutoffs.insert(uid.to_string(), (at, now + ttl_ms));
        self.feed_append(
            now,
            life_ms,
            Revoked::User {
                sub: uid.to_string(),
                cutoff_ms: at,
            },
            now + life_ms,
        );
        at
    }

    fn wrote(&mut self, now: i64) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.sessions.retain(|_, s| s.expires_ms > now);
            self.revoked_jtis.retain(|_, exp| *exp > now);
            self.cutoffs.retain(|_, (_, exp)| *exp > now);
            self.mfa_pending.retain(|_, (_, exp)| *exp > now);
            self.challenges.retain(|_, c| c.expires_ms > now);
            self.counters.retain(|_, (_, exp)| *exp > now);
        }
    }
}

/// See the module doc.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: SharedClock,
    /// How long feed entries are kept (ms): the longest access-token life plus leeway.
    feed_life_ms: i64,
}

impl MemoryStore {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
            feed_life_ms: super::DEFAULT_FEED_LIFE_MS,
        }
    }

    /// How long revocation-feed entries are kept (ms): the longest access-token life plus leeway.
    pub fn with_feed_life_ms(mut self, ms: i64) -> Self {
        self.feed_life_ms = ms.max(1);
        self
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        // A poisoned lock means a panic mid-update; refuse rather than trust half-written state.
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("embedded store lock poisoned".into()))
    }

    /// How many entries are held, expired or not; for tests of the sweep.
    pub fn len(&self) -> usize {
        self.lock()
            .map(|i| i.sessions.len() + i.revoked_jtis.len() + i.cutoffs.len())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, s: &NewSession) -> Result<i64, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let started_ms = match inner.cutoff(&s.uid, now) {
            Some(cutoff) if now <= cutoff => cutoff + 1,
            _ => now,
        };
        inner.sessions.insert(
            s.sid.clone(),
            SessionRecord {
                uid: s.uid.clone(),
                fingerprint: s.fingerprint.clone(),
                started_ms,
                current: (s.refresh_jti.clone(), s.access_jti.clone()),
                previous: None,
                rotated_ms: started_ms,
                revoked: false,
                expires_ms: now + s.ttl_ms,
            },
        );
        inner.wrote(now);
        Ok(started_ms)
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        if let Some(gate) = &r.gate {
            if let Some(retry_after_ms) = inner.hit(gate, now) {
                return Ok(RotateOutcome::Limited { retry_after_ms });
            }
        }
        let cutoff = inner.cutoff(&r.uid, now);
        let Some(record) = inner.session(&r.sid, now).cloned() else {
            return Ok(RotateOutcome::Revoked);
        };
        if record.revoked || record.uid != r.uid || cutoff.is_some_and(|c| record.started_ms <= c) {
            return Ok(RotateOutcome::Revoked);
        }
        let Some(entry) = inner.sessions.get_mut(&r.sid) else {
            return Ok(RotateOutcome::Revoked);
        };
        let life = self.feed_life_ms;
        if record.fingerprint != r.fingerprint {
            entry.revoked = true;
            inner.feed_append(now, life, Revoked::Session(r.sid.clone()), now + life);
            return Ok(RotateOutcome::Revoked);
        }
        if r.presented_jti == record.current.0 {
            // A session started just after a cut-off may start a little ahead of now: its pairs are
            // never issued before its start (as rotate.lua); the grace counts from the rotation.
            let issued_ms = now.max(record.started_ms);
            entry.previous = Some(record.current.0.clone());
            entry.current = (r.new_refresh_jti.clone(), r.new_access_jti.clone());
            entry.rotated_ms = now;
            entry.expires_ms = now + r.ttl_ms;
            inner.wrote(now);
            return Ok(RotateOutcome::Rotated(Generation {
                started_ms: record.started_ms,
                issued_ms,
                refresh_jti: r.new_refresh_jti.clone(),
                access_jti: r.new_access_jti.clone(),
            }));
        }
        let within_grace = r.grace_ms > 0 && now - record.rotated_ms <= r.grace_ms;
        if record.previous.as_deref() == Some(r.presented_jti.as_str()) && within_grace {
            return Ok(RotateOutcome::Replayed(Generation {
                started_ms: record.started_ms,
                issued_ms: record.rotated_ms.max(record.started_ms),
                refresh_jti: record.current.0,
                access_jti: record.current.1,
            }));
        }
        entry.revoked = true;
        inner.feed_append(now, life, Revoked::Session(r.sid.clone()), now + life);
        Ok(RotateOutcome::Reused)
    }

    async fn session_view(
        &self,
        sid: &str,
        uid: &str,
        access_jti: Option<&str>,
    ) -> Result<SessionView, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        let revoked = |jti: &str| inner.revoked_jtis.get(jti).is_some_and(|exp| *exp > now);
        if access_jti.is_some_and(revoked) {
            return Ok(SessionView::Revoked);
        }
        let cutoff = inner.cutoff(uid, now);
        Ok(match inner.session(sid, now) {
            Some(s) if !s.revoked && s.uid == uid && cutoff.is_none_or(|c| s.started_ms > c) => {
                SessionView::Active {
                    fingerprint: s.fingerprint.clone(),
                    current_refresh_jti: s.current.0.clone(),
                }
            }
            _ => SessionView::Revoked,
        })
    }
}

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_session(&self, sid: &str, jti: Option<(&str, i64)>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let life = self.feed_life_ms;
        let mut inner = self.lock()?;
        let was_live = match inner.sessions.get_mut(sid).filter(|s| s.expires_ms > now) {
            Some(s) => !std::mem::replace(&mut s.revoked, true),
            None => false,
        };
        if was_live {
            inner.feed_append(now, life, Revoked::Session(sid.to_string()), now + life);
        }
        if let Some((jti, ttl_ms)) = jti.filter(|(_, ttl)| *ttl > 0) {
            inner.revoked_jtis.insert(jti.to_string(), now + ttl_ms);
            inner.feed_append(now, life, Revoked::Token(jti.to_string()), now + ttl_ms);
        }
        inner.wrote(now);
        Ok(())
    }

    async fn revoke_user(&self, uid: &str, ttl_ms: i64) -> Result<i64, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let at = inner.cut_off(uid, ttl_ms, now, self.feed_life_ms);
        inner.wrote(now);
        Ok(at)
    }

    async fn note_credentials(&self, uid: &str, state: &str, ttl_ms: i64) -> Result<Option<i64>, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let before = inner.credentials.insert(uid.to_string(), state.to_string());
        let changed = match before.as_deref() {
            Some(before) => before != state,
            None => state.starts_with("disabled:"),
        };
        Ok(changed.then(|| inner.cut_off(uid, ttl_ms, now, self.feed_life_ms)))
    }
}

#[async_trait]
impl FeedStore for MemoryStore {
    async fn feed_after(
        &self,
        after: EntryId,
        count: usize,
    ) -> Result<Vec<(EntryId, FeedEntry)>, StoreError> {
        let now = self.clock.now_ms();
        let min_ms = u64::try_from(now - self.feed_life_ms).unwrap_or(0);
        let inner = self.lock()?;
        Ok(inner
            .feed
            .iter()
            .filter(|(id, _)| *id > after && id.ms >= min_ms)
            .take(count)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl MfaStore for MemoryStore {
    async fn mfa_record(&self, uid: &str) -> Result<MfaRecord, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        Ok(MfaRecord {
            active: inner.mfa.get(uid).and_then(|m| m.active.clone()),
            pending: inner
                .mfa_pending
                .get(uid)
                .filter(|(_, exp)| *exp > now)
                .map(|(sealed, _)| sealed.clone()),
        })
    }

    async fn mfa_set_pending(&self, uid: &str, sealed: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        if inner.mfa.get(uid).is_some_and(|m| m.active.is_some()) {
            return Ok(false);
        }
        inner
            .mfa_pending
            .insert(uid.to_string(), (sealed.to_string(), now + ttl_ms));
        inner.wrote(now);
        Ok(true)
    }

    async fn mfa_activate(
        &self,
        uid: &str,
        sealed: &str,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let pending_matches = inner
            .mfa_pending
            .get(uid)
            .is_some_and(|(p, exp)| *exp > now && p == sealed);
        let entry = inner.mfa.entry(uid.to_string()).or_default();
        if entry.active.is_some() || !pending_matches || entry.last_step.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        entry.active = Some(sealed.to_string());
        entry.last_step = Some(step);
        entry.recovery = recovery.iter().cloned().collect();
        inner.mfa_pending.remove(uid);
        Ok(true)
    }

    async fn mfa_accept_step(&self, uid: &str, step: i64) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        match inner.mfa.get_mut(uid) {
            Some(entry) if entry.active.is_some() && entry.last_step.is_none_or(|last| step > last) => {
                entry.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mfa_use_recovery(&self, uid: &str, hash: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock()?;
        Ok(inner
            .mfa
            .get_mut(uid)
            .is_some_and(|entry| entry.recovery.remove(hash)))
    }

    async fn mfa_disable(&self, uid: &str) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner.mfa.remove(uid);
        inner.mfa_pending.remove(uid);
        Ok(())
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn mfa_challenge_try(
        &self,
        jti: &str,
        max_tries: u32,
        ttl_ms: i64,
    ) -> Result<ChallengeTry, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let challenge = inner.challenges.entry(jti.to_string()).or_default();
        if challenge.expires_ms <= now {
            *challenge = Challenge {
                tries: 0,
                used: false,
                expires_ms: now + ttl_ms,
            };
        }
        if challenge.used {
            return Ok(ChallengeTry::Used);
        }
        challenge.tries += 1;
        let outcome = if challenge.tries > max_tries {
            ChallengeTry::Exhausted
        } else {
            ChallengeTry::Allowed
        };
        inner.wrote(now);
        Ok(outcome)
    }

    async fn mfa_challenge_finish(&self, jti: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let challenge = inner.challenges.entry(jti.to_string()).or_default();
        if challenge.used && challenge.expires_ms > now {
            return Ok(false);
        }
        challenge.used = true;
        challenge.expires_ms = now + ttl_ms;
        Ok(true)
    }
}

#[async_trait]
impl LimitStore for MemoryStore {
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        let mut gate = Gate::Open;
        for counter in hits {
            if let Some(retry_after_ms) = inner.hit(counter, now) {
                gate = Gate::Limited { retry_after_ms };
                break;
            }
        }
        if gate == Gate::Open {
            for counter in locks {
                if let Some(retry_after_ms) = inner.locked(counter, now) {
                    gate = Gate::Limited { retry_after_ms };
                    break;
                }
            }
        }
        inner.wrote(now);
        Ok(gate)
    }

    async fn fail(&self, counters: &[Counter]) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.lock()?;
        for counter in counters {
            inner.hit(counter, now);
        }
        inner.wrote(now);
        Ok(())
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        for key in keys {
            inner.counters.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn expired_entries_are_forgotten_and_swept() -> Result<(), StoreError> {
        let clock = ManualClock::new(1_000_000);
        let store = MemoryStore::new(Arc::new(clock.clone()));
        for i in 0..(SWEEP_EVERY - 1) {
            store
                .create_session(&NewSession {
                    sid: format!("s{i}"),
                    uid: "1".into(),
                    fingerprint: "f".into(),
                    refresh_jti: "r".into(),
                    access_jti: "a".into(),
                    ttl_ms: 1_000,
                })
                .await?;
        }
        assert_eq!(
            store.session_view("s0", "1", Some("a")).await?,
            SessionView::Active {
                fingerprint: "f".into(),
                current_refresh_jti: "r".into()
            }
        );
        clock.advance_secs(2);
        assert_eq!(
            store.session_view("s0", "1", Some("a")).await?,
            SessionView::Revoked
        );
        assert_eq!(store.len(), (SWEEP_EVERY - 1) as usize);
        store.revoke_session("nope", None).await?;
        assert_eq!(store.len(), 0, "the sweep drops expired sessions");
        Ok(())
    }
}

//! The embedded in-process store, used when `REDIS_URL` is empty so `cargo run` works on a bare machine.
//!
//! Every operation takes the one lock, does its whole check-and-write, and releases it: the same
//! atomicity the Lua scripts give in Redis. The injected clock is the store's clock: session starts,
//! issue times, cut-offs and the grace read it, as the scripts read Redis `TIME`. Entries expire by it;
//! expired ones are dropped lazily and swept every [`SWEEP_EVERY`] writes, so memory stays bounded.
//!
//! With a file ([`MemoryStore::open`], `EMBEDDED_STORE_FILE`), the state is kept in a redb database:
//! every operation that writes saves the whole state in one redb transaction (durable on return)
//! before it answers, under the same lock, so a restart finds every user, session, revocation, MFA
//! enrolment and counter as the last answer left them. A save that fails fails the operation (503)
//! and undoes it: the state goes back to what the file holds (the last answer's), so memory never
//! holds a change that was refused, which a later save would otherwise have made durable. Should the
//! file not read back either, the store refuses everything (503) until restarted.
//! Each save costs time in proportion to what is live (sessions, users): it is meant for one process
//! on one machine, as the default, not for load; that is Redis's job. The revocation feed is not kept
//! (a backend in the same process checks this store itself; one in another process needs Redis).
//!
//! The revocation feed is an in-process queue with the Redis stream's semantics: every revocation
//! appends an entry (ids `<ms>-<seq>` from the store's clock, increasing) in the same locked step, and
//! each append drops the entries older than the feed life ([`FeedStore`] reads it back).

// One file per capability, each implementing its traits for [`MemoryStore`]; the state they share
// (`Inner`, behind one lock) and its file are here.
mod feed;
mod grants;
mod limits;
mod mfa;
mod passkeys;
mod registry;
mod sessions;
mod users;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared::SharedClock;

use shared::revocation::Revoked;

use super::{
    ChallengeStore, ChallengeTry, ClientRecord, ClientStore, Counter, EntryId, FeedEntry, FeedStore, Gate,
    Generation, GrantKind, GrantStore, KeyStore, LimitStore, MfaRecord, MfaStore, NewSession, PasskeyAdded,
    PasskeyRecord, PasskeyRemoved, PasskeyStore, RevocationStore, RotateOutcome, Rotation, SessionStart,
    SessionStore, SessionView, SigningKeyRecord, StoreError, StoreHealth, Taken, UserRecord, UserStore,
    UserUpdate,
};

const SWEEP_EVERY: u64 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Default, Serialize, Deserialize)]
struct MfaEntry {
    active: Option<String>,
    last_step: Option<i64>,
    recovery: HashSet<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Challenge {
    tries: u32,
    used: bool,
    expires_ms: i64,
}

/// An OpenID Provider record: its value, how often it was redeemed, when it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Grant {
    value: String,
    redeemed: u64,
    expires_ms: i64,
}

/// A user and the index keys it was stored under.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredUser {
    record: UserRecord,
    username_key: String,
    email_key: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Inner {
    sessions: HashMap<String, SessionRecord>,
    revoked_jtis: HashMap<String, i64>,
    cutoffs: HashMap<String, (i64, i64)>,
    /// Per user: the latest issue time of any of its tokens (ms) and when that stops mattering.
    #[serde(default)]
    issued: HashMap<String, (i64, i64)>,
    mfa: HashMap<String, MfaEntry>,
    mfa_pending: HashMap<String, (String, i64)>,
    challenges: HashMap<String, Challenge>,
    counters: HashMap<String, (u64, i64)>,
    users: BTreeMap<u64, StoredUser>,
    users_by_username: HashMap<String, u64>,
    users_by_email: HashMap<String, u64>,
    user_seq: u64,
    /// Signing keys by kid, and the newest kid of each algorithm.
    #[serde(default)]
    signing_keys: BTreeMap<String, SigningKeyRecord>,
    #[serde(default)]
    newest_keys: HashMap<String, String>,
    /// OAuth 2.0 clients by `client_id`.
    #[serde(default)]
    clients: BTreeMap<String, ClientRecord>,
    /// The OpenID Provider's records and sets, by `<kind>:<id>`.
    #[serde(default)]
    grants: HashMap<String, Grant>,
    #[serde(default)]
    grant_sets: HashMap<String, (HashSet<String>, i64)>,
    /// Passkeys by credential id.
    #[serde(default)]
    passkeys: BTreeMap<String, PasskeyRecord>,
    /// The revocation feed, oldest first; not kept in the file.
    #[serde(skip)]
    feed: VecDeque<(EntryId, FeedEntry)>,
    #[serde(skip)]
    feed_last: EntryId,
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

    /// The user's issue mark: the latest issue time of any of their tokens still alive.
    fn issued_mark(&self, uid: &str, now: i64) -> Option<i64> {
        self.issued
            .get(uid)
            .filter(|(_, exp)| *exp > now)
            .map(|(at, _)| *at)
    }

    /// Raises the user's issue mark to `at` (kept for `ttl_ms`), as `issued.lua`.
    fn raise_issued(&mut self, uid: &str, at: i64, ttl_ms: i64, now: i64) {
        let mark = self.issued_mark(uid, now);
        if mark.is_none_or(|m| at > m) {
            self.issued.insert(uid.to_string(), (at, now + ttl_ms));
        }
    }

    /// Moves a user's cut-off to the end of the second of the later of now and the user's issue mark
    /// (never back), and appends it to the feed; as `cutoff.lua`.
    fn cut_off(&mut self, uid: &str, ttl_ms: i64, now: i64, life_ms: i64) -> i64 {
        let from = self.issued_mark(uid, now).map_or(now, |m| now.max(m));
        let mut at = from.div_euclid(1000) * 1000 + 999;
        if let Some(current) = self.cutoff(uid, now) {
            at = at.max(current);
        }
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

    /// The user `uid` names if they are active and their credential still has `fingerprint`.
    fn session_user(&self, uid: &str, fingerprint: &str) -> Option<UserRecord> {
        let id = uid.parse::<u64>().ok()?;
        self.users
            .get(&id)
            .map(|u| &u.record)
            .filter(|u| u.active && u.fingerprint() == fingerprint)
            .cloned()
    }

    fn wrote(&mut self, now: i64) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.sessions.retain(|_, s| s.expires_ms > now);
            self.revoked_jtis.retain(|_, exp| *exp > now);
            self.cutoffs.retain(|_, (_, exp)| *exp > now);
            self.issued.retain(|_, (_, exp)| *exp > now);
            self.mfa_pending.retain(|_, (_, exp)| *exp > now);
            self.challenges.retain(|_, c| c.expires_ms > now);
            self.counters.retain(|_, (_, exp)| *exp > now);
            self.grants.retain(|_, g| g.expires_ms > now);
            self.grant_sets.retain(|_, (_, exp)| *exp > now);
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
    /// Where the state is kept, if anywhere.
    file: Option<StateFile>,
    /// Set when a failed save could not be undone (the file did not read back): everything fails.
    broken: AtomicBool,
    /// Tests only: how many of the next saves fail ([`MemoryStore::fail_next_saves`]).
    failing_saves: AtomicUsize,
}

/// The redb database the state is saved in: one table, one row.
struct StateFile(redb::Database);

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateFile")
    }
}

const STATE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("state");
const STATE_ROW: &str = "embedded-store-v1";

fn file_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store file: {e}"))
}

impl StateFile {
    fn load(&self) -> Result<Option<Inner>, StoreError> {
        use redb::ReadableDatabase;
        let txn = self.0.begin_read().map_err(file_error)?;
        let table = match txn.open_table(STATE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(file_error(e)),
        };
        let Some(row) = table.get(STATE_ROW).map_err(file_error)? else {
            return Ok(None);
        };
        serde_json::from_slice(row.value())
            .map(Some)
            .map_err(|e| file_error(format!("unreadable state ({e})")))
    }

    fn save(&self, inner: &Inner) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(inner).map_err(file_error)?;
        let txn = self.0.begin_write().map_err(file_error)?;
        {
            let mut table = txn.open_table(STATE).map_err(file_error)?;
            table.insert(STATE_ROW, bytes.as_slice()).map_err(file_error)?;
        }
        txn.commit().map_err(file_error)
    }
}

impl MemoryStore {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
            feed_life_ms: super::DEFAULT_FEED_LIFE_MS,
            file: None,
            broken: AtomicBool::new(false),
            failing_saves: AtomicUsize::new(0),
        }
    }

    /// A store kept in the redb file at `path` (created if missing), with the state it holds.
    pub fn open(clock: SharedClock, path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_error)?;
        }
        let file = StateFile(redb::Database::create(path).map_err(file_error)?);
        let inner = file.load()?.unwrap_or_default();
        Ok(Self {
            inner: Mutex::new(inner),
            clock,
            feed_life_ms: super::DEFAULT_FEED_LIFE_MS,
            file: Some(file),
            broken: AtomicBool::new(false),
            failing_saves: AtomicUsize::new(0),
        })
    }

    /// Tests only: the next `n` saves fail as a full disk would, so a test can show a refused write
    /// leaves nothing behind. Nothing in the service calls it.
    #[doc(hidden)]
    pub fn fail_next_saves(&self, n: usize) {
        self.failing_saves.store(n, Ordering::SeqCst);
    }

    /// The lock, for an operation that writes: [`Write::commit`] saves, or undoes the operation.
    fn write(&self) -> Result<Write<'_>, StoreError> {
        let inner = self.lock()?;
        let feed_mark = (inner.feed.len(), inner.feed_last);
        Ok(Write {
            inner,
            store: self,
            feed_mark,
        })
    }

    /// Saves the state, when a file is configured.
    fn save(&self, inner: &Inner) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let failing = self
            .failing_saves
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(file_error("injected save failure"));
        }
        file.save(inner)
    }

    /// How long revocation-feed entries are kept (ms): the longest access-token life plus leeway.
    pub fn with_feed_life_ms(mut self, ms: i64) -> Self {
        self.feed_life_ms = ms.max(1);
        self
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "embedded store: a failed save could not be undone; restart the service".into(),
            ));
        }
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

/// The lock of an operation that writes: the operation changes the state through it, then
/// [`Write::commit`] saves, and a save that fails undoes the operation (see the module doc).
struct Write<'a> {
    inner: std::sync::MutexGuard<'a, Inner>,
    store: &'a MemoryStore,
    /// The feed's length and last id before the operation (the feed is not in the file).
    feed_mark: (usize, EntryId),
}

impl std::ops::Deref for Write<'_> {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::ops::DerefMut for Write<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.inner
    }
}

impl Write<'_> {
    /// Saves the state; on failure, puts back what the file holds and the feed as it was.
    fn commit(&mut self) -> Result<(), StoreError> {
        let Err(e) = self.store.save(&self.inner) else {
            return Ok(());
        };
        let restored = match &self.store.file {
            Some(file) => file.load().map(Option::unwrap_or_default),
            None => Ok(Inner::default()),
        };
        match restored {
            Ok(mut state) => {
                let (len, last) = self.feed_mark;
                state.feed = std::mem::take(&mut self.inner.feed);
                state.feed.truncate(len);
                state.feed_last = last;
                *self.inner = state;
            }
            Err(load) => {
                tracing::error!(error = %load, "embedded store: a failed save could not be undone");
                self.store.broken.store(true, Ordering::SeqCst);
            }
        }
        Err(e)
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ManualClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn expired_entries_are_forgotten_and_swept() -> Result<(), StoreError> {
        let clock = ManualClock::new(1_000_000);
        let store = MemoryStore::new(Arc::new(clock.clone()));
        let user = UserRecord {
            id: 1,
            username: "u".into(),
            email: "u@example.com".into(),
            rol: "usuario".into(),
            password_hash: "h".into(),
            virtual_operator: "saphety".into(),
            active: true,
            version: 0,
            config: String::new(),
            reset: String::new(),
        };
        let user = store.create_user(&user, "u", "u@example.com").await?.unwrap();
        for i in 0..(SWEEP_EVERY - 1) {
            store
                .create_session(&NewSession {
                    sid: format!("s{i}"),
                    uid: "1".into(),
                    fingerprint: user.fingerprint(),
                    refresh_jti: "r".into(),
                    access_jti: "a".into(),
                    ttl_ms: 1_000,
                    cutoff_seen: None,
                })
                .await?;
        }
        assert_eq!(
            store.session_view("s0", "1", Some("a")).await?,
            SessionView::Active {
                user: Box::new(user.clone()),
                current_refresh_jti: "r".into()
            }
        );
        clock.advance_secs(2);
        assert_eq!(
            store.session_view("s0", "1", Some("a")).await?,
            SessionView::Revoked
        );
        assert_eq!(store.len(), (SWEEP_EVERY - 1) as usize);
        store.revoke_session("1", "nope", None).await?;
        assert_eq!(store.len(), 0, "the sweep drops expired sessions");
        Ok(())
    }
}

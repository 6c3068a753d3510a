//! [`RevocationFeed`]: follows the auth service's revocation feed in Redis and answers
//! [`RevocationCheck`] from memory.
//!
//! A task of its own, on a dedicated connection (a blocking read on the shared multiplexed connection
//! would hold up every command queued behind it):
//!
//! 1. At start it reads the stream from its first entry, in pages of [`PAGE`], without blocking, until a
//!    page comes back short: it then holds every revocation in force, and the feed is *current*.
//! 2. It follows with `XREAD BLOCK` from the last entry it applied. Every answer, entries or none after
//!    [`BLOCK`], proves the feed current as of when that read was sent.
//! 3. On any error it drops the connection and connects again (backing off up to a second), then resumes
//!    from the last entry it applied, unless entries it never read may be gone (`XINFO STREAM`: the
//!    first entry is past the last one read, so trimming may have taken some; or `max-deleted-entry-id`
//!    is past it) or the stream is not the one it was following (`last-generated-id` behind it, the key
//!    gone or empty): then it reads the whole stream again (`resume_after`). A reload adds to what is
//!    held; nothing is forgotten before its own `until`.
//!
//! Staleness is explicit: [`FeedSettings::max_staleness`] bounds how long ago the feed may last have been
//! current. Past it, a token that is not known to be revoked gets [`Verdict::Unavailable`] (503, fail
//! closed), or, with [`WhenStale::Allow`], is accepted with a warning (once per outage) and a count in
//! `revocation_stale_accepted_total`. A token known to be revoked is refused either way.
//!
//! Times: `until` and cut-offs are the auth service's store's clock (Redis `TIME`); this process
//! compares them with its own [`crate::Clock`], so keep clocks in sync (NTP), as for `exp`. Staleness
//! is elapsed time, measured on the monotonic clock, so a step of the wall clock neither hides an
//! outage nor invents one.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::{AsyncConnectionConfig, Value};

use super::deny::DenySet;
use super::{feed_key, EntryId, FeedEntry, RevocationCheck, RevocationError, Verdict};
use crate::claims::AccessClaims;
use crate::clock::SharedClock;
use crate::metrics::metrics;
use crate::store::{Conn, Connector, RedisTarget, StoreError, DEADLINE};

/// Entries read per request.
pub const PAGE: usize = 1000;

/// How long one following read waits for new entries: well below any staleness bound, so a healthy
/// feed proves itself current at least this often.
pub const BLOCK: Duration = Duration::from_millis(500);

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often expired entries are swept out of the deny set.
const SWEEP_EVERY_MS: i64 = 1000;

pub use crate::settings::{FeedSettings, WhenStale};

/// A stream entry as read: its id and its fields, unparsed.
pub type RawEntry = (EntryId, Vec<(String, String)>);

/// What the follower task and the request path share.
#[derive(Debug)]
struct State {
    deny: RwLock<DenySet>,
    /// When the feed was last known current, in ms after `origin`; -1 until it first is.
    current_at_ms: AtomicI64,
    origin: Instant,
    /// Whether the present stale spell has been logged (once per spell).
    stale_logged: AtomicBool,
    settings: FeedSettings,
    clock: SharedClock,
}

impl State {
    /// Ms after `origin`, on the monotonic clock.
    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn staleness_ms(&self, now_ms: i64) -> Option<i64> {
        let at = self.current_at_ms.load(Ordering::Acquire);
        (at >= 0).then(|| now_ms - at)
    }

    fn is_current(&self, now_ms: i64) -> bool {
        let bound = i64::try_from(self.settings.max_staleness.as_millis()).unwrap_or(i64::MAX);
        self.staleness_ms(now_ms).is_some_and(|ms| ms <= bound)
    }

    fn verdict(&self, claims: &AccessClaims) -> Verdict {
        let now = self.clock.now_ms();
        let Ok(deny) = self.deny.read() else {
            // A poisoned lock: a panic mid-update; trust nothing.
            return Verdict::Unavailable;
        };
        if deny.is_revoked(claims, now) {
            return Verdict::Revoked;
        }
        drop(deny);
        let elapsed = self.elapsed_ms();
        if self.is_current(elapsed) {
            return Verdict::Valid;
        }
        match self.settings.when_stale {
            WhenStale::FailClosed => Verdict::Unavailable,
            WhenStale::Allow => {
                metrics().revocation_stale_accepted.inc();
                if !self.stale_logged.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        staleness_ms = self.staleness_ms(elapsed),
                        "revocation feed is stale past its bound; accepting tokens unchecked \
                         (REVOCATION_FEED_WHEN_STALE=allow)"
                    );
                }
                Verdict::Valid
            }
        }
    }

    fn mark_current(&self, at_ms: i64) {
        self.current_at_ms.fetch_max(at_ms, Ordering::AcqRel);
        if self.stale_logged.swap(false, Ordering::AcqRel) {
            tracing::info!("revocation feed current again");
        }
    }

    /// Applies a page; returns the last id in it.
    fn apply(&self, page: &[RawEntry]) -> Option<EntryId> {
        let now = self.clock.now_ms();
        let mut applied = 0u64;
        if let Ok(mut deny) = self.deny.write() {
            for (id, fields) in page {
                match FeedEntry::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                    Ok(entry) => {
                        deny.apply(&entry);
                        applied += 1;
                        let delay_ms = now - i64::try_from(id.ms).unwrap_or(i64::MAX);
                        metrics()
                            .revocation_feed_delay
                            .observe(delay_ms.max(0) as f64 / 1000.0);
                    }
                    Err(reason) => {
                        metrics().revocation_feed_malformed.inc();
                        tracing::error!(entry = %id, reason, "revocation feed entry skipped: malformed");
                    }
                }
            }
        }
        metrics().revocation_feed_entries.inc_by(applied);
        page.last().map(|(id, _)| *id)
    }

    fn sweep(&self) {
        let now = self.clock.now_ms();
        if let Ok(mut deny) = self.deny.write() {
            deny.sweep(now);
        }
    }

    fn publish_gauges(&self) {
        let m = metrics();
        if let Some(ms) = self.staleness_ms(self.elapsed_ms()) {
            m.revocation_feed_lag.set(ms as f64 / 1000.0);
        }
        if let Ok(deny) = self.deny.read() {
            m.revocation_deny_set_size.set(deny.len() as i64);
        }
    }
}

/// See the module doc. Cheap to clone; the follower stops soon after the last clone is dropped.
#[derive(Debug, Clone)]
pub struct RevocationFeed {
    state: Arc<State>,
    connector: Connector,
    key: String,
}

impl RevocationFeed {
    /// Parses the URL now (a bad one stops the start). Nothing is read until [`RevocationFeed::spawn`].
    pub fn new(
        url: &str,
        prefix: &str,
        settings: FeedSettings,
        clock: SharedClock,
    ) -> Result<Self, StoreError> {
        Self::to(&RedisTarget::Url(url.to_string()), prefix, settings, clock)
    }

    /// A feed read from `target` (one server, or the primary Sentinels name); checked now, read from
    /// [`RevocationFeed::spawn`] on.
    pub fn to(
        target: &RedisTarget,
        prefix: &str,
        settings: FeedSettings,
        clock: SharedClock,
    ) -> Result<Self, StoreError> {
        let connector = Connector::new(target)?;
        Ok(Self {
            state: Arc::new(State {
                deny: RwLock::new(DenySet::default()),
                current_at_ms: AtomicI64::new(-1),
                origin: Instant::now(),
                stale_logged: AtomicBool::new(false),
                settings,
                clock,
            }),
            connector,
            key: feed_key(prefix),
        })
    }

    /// Starts following the feed on the current tokio runtime. Call it once.
    pub fn spawn(&self) {
        let follower = Follower {
            state: Arc::downgrade(&self.state),
            connector: self.connector.clone(),
            key: self.key.clone(),
        };
        tokio::spawn(follower.run());
    }

    /// The verdict on verified claims, without awaiting: a few hash lookups under a read lock.
    pub fn verdict(&self, claims: &AccessClaims) -> Verdict {
        self.state.verdict(claims)
    }

    /// Whether the feed is within its staleness bound now (for `/ready`).
    pub fn is_current(&self) -> bool {
        self.state.is_current(self.state.elapsed_ms())
    }

    /// `Ok` while requests would be served: current, or stale under [`WhenStale::Allow`].
    pub fn ready(&self) -> Result<(), StoreError> {
        if self.is_current() || self.state.settings.when_stale == WhenStale::Allow {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "revocation feed is stale past its bound".into(),
            ))
        }
    }

    /// How many revocations are held (expired ones not yet swept included).
    pub fn deny_set_len(&self) -> usize {
        self.state.deny.read().map(|d| d.len()).unwrap_or(0)
    }

    /// The stream key this feed follows.
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[async_trait]
impl RevocationCheck for RevocationFeed {
    async fn check(&self, claims: &AccessClaims) -> Result<(), RevocationError> {
        self.verdict(claims).into()
    }
}

/// The follower task's own state: only a weak handle on what requests read, so it ends with them.
struct Follower {
    state: Weak<State>,
    connector: Connector,
    key: String,
}

impl Follower {
    async fn run(self) {
        let mut last = EntryId::ZERO;
        let mut conn: Option<Conn> = None;
        let mut behind = true;
        let mut loaded = false;
        let mut backoff = Duration::from_millis(50);
        // Whether the present spell of failures has been logged (once per spell).
        let mut trouble_logged = false;
        let mut last_sweep_ms = 0i64;
        loop {
            let Some(state) = self.state.upgrade() else {
                return;
            };
            state.publish_gauges();
            let elapsed = state.elapsed_ms();
            if elapsed - last_sweep_ms >= SWEEP_EVERY_MS {
                state.sweep();
                last_sweep_ms = elapsed;
            }
            let mut c = match conn.take() {
                Some(c) => c,
                None => match self.connect(last).await {
                    Ok((c, from)) => {
                        if from != last {
                            metrics().revocation_feed_reloads.inc();
                            tracing::warn!(
                                "revocation feed may have lost entries it had not read (trimmed, or a \
                                 new stream): reading it whole again"
                            );
                        }
                        last = from;
                        behind = true;
                        c
                    }
                    Err(e) => {
                        if !trouble_logged {
                            tracing::warn!(error = %e, "revocation feed unreachable; retrying");
                            trouble_logged = true;
                        }
                        drop(state);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                },
            };
            let sent_at = state.elapsed_ms();
            // Do not keep the requests' state alive while blocked on Redis.
            drop(state);
            let block = (!behind).then_some(BLOCK);
            let page = read(&mut c, &self.key, last, block).await;
            let Some(state) = self.state.upgrade() else {
                return;
            };
            match page {
                Ok(page) => {
                    if trouble_logged {
                        trouble_logged = false;
                        if loaded {
                            metrics().revocation_feed_reconnects.inc();
                            tracing::info!("revocation feed reconnected");
                        }
                    }
                    backoff = Duration::from_millis(50);
                    if let Some(id) = state.apply(&page) {
                        last = id;
                    }
                    behind = page.len() >= PAGE;
                    if !behind {
                        state.mark_current(sent_at);
                        if !loaded {
                            loaded = true;
                            tracing::info!(
                                revocations = state.deny.read().map(|d| d.len()).unwrap_or(0),
                                "revocation feed loaded"
                            );
                        }
                    }
                    conn = Some(c);
                }
                Err(e) => {
                    // A connection that failed is dropped; the next round connects again, after a
                    // pause that grows while the failures last (a key of another type fails every
                    // read, and must not spin).
                    if !trouble_logged {
                        tracing::warn!(error = %e, "revocation feed read failed; reconnecting");
                        trouble_logged = true;
                    }
                    drop(state);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// A fresh dedicated connection and the id to read after: `last`, or [`EntryId::ZERO`] when the
    /// stream lost entries after `last` that were never read (see the module doc).
    async fn connect(&self, last: EntryId) -> Result<(Conn, EntryId), redis::RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(DEADLINE))
            .set_response_timeout(Some(BLOCK + DEADLINE));
        let mut conn = self.connector.connect(&config, BLOCK + DEADLINE).await?;
        if last == EntryId::ZERO {
            return Ok((conn, last));
        }
        let exists: i64 = redis::cmd("EXISTS").arg(&self.key).query_async(&mut conn).await?;
        if exists == 0 {
            return Ok((conn, EntryId::ZERO));
        }
        let info: Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&self.key)
            .query_async(&mut conn)
            .await?;
        let from = resume_after(last, &StreamInfo::from_reply(info));
        Ok((conn, from))
    }
}

/// What `XINFO STREAM` says that matters for resuming.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct StreamInfo {
    length: u64,
    last_generated: Option<EntryId>,
    max_deleted: Option<EntryId>,
    first: Option<EntryId>,
}

impl StreamInfo {
    fn from_reply(reply: Value) -> Self {
        let info = pairs(reply);
        let field = |name: &str| info.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let id_of = |v: &Value| text(v).and_then(|s| s.parse::<EntryId>().ok());
        let first_entry = field("first-entry").and_then(|v| match v {
            Value::Array(parts) => parts.first().and_then(id_of),
            _ => None,
        });
        Self {
            length: field("length")
                .and_then(text)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            last_generated: field("last-generated-id").and_then(id_of),
            max_deleted: field("max-deleted-entry-id").and_then(id_of),
            first: first_entry,
        }
    }
}

/// Where to resume after `last`: `last` itself when nothing after it can have been lost, else
/// [`EntryId::ZERO`] (read the whole stream again). Trimming removes the oldest entries first, so while
/// the first entry is at or before `last`, nothing after `last` was trimmed; `max-deleted-entry-id`
/// catches a deletion anywhere; a `last-generated-id` behind `last` means another stream (deleted and
/// written again, or a Redis that lost data). An empty stream may have been trimmed past `last`.
fn resume_after(last: EntryId, info: &StreamInfo) -> EntryId {
    let continuous = info.length > 0
        && info.first.is_some_and(|first| first <= last)
        && info.last_generated.is_some_and(|generated| generated >= last)
        && info.max_deleted.is_none_or(|deleted| deleted <= last);
    if continuous {
        last
    } else {
        EntryId::ZERO
    }
}

/// One `XREAD` after `last`: a page of entries, empty when none came within `block` (or at once).
async fn read(
    conn: &mut Conn,
    key: &str,
    last: EntryId,
    block: Option<Duration>,
) -> Result<Vec<RawEntry>, redis::RedisError> {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT").arg(PAGE);
    if let Some(block) = block {
        cmd.arg("BLOCK").arg(block.as_millis() as u64);
    }
    cmd.arg("STREAMS").arg(key).arg(last.to_string());
    let reply: Value = cmd.query_async(conn).await?;
    parse_xread(reply).map_err(|why| {
        redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "bad XREAD reply", why))
    })
}

/// The entries of an `XREAD` reply for one stream, in RESP2 (`[[key, entries]]`) or RESP3
/// (`{key: entries}`) shape; nil is no entries.
fn parse_xread(reply: Value) -> Result<Vec<RawEntry>, String> {
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(map) => map.into_iter().map(|(_, entries)| entries).collect(),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.remove(1)),
                other => Err(format!("unexpected stream in reply: {other:?}")),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("unexpected reply: {other:?}")),
    };
    let mut out = Vec::new();
    for entries in streams {
        out.extend(parse_range(entries)?);
    }
    Ok(out)
}

/// The entries of an `XRANGE` reply (or of one stream in an `XREAD` reply): `[[id, [field, value, ...]],
/// ...]`, the fields as a flat list or a map. Public so that other readers of the feed parse alike.
pub fn parse_range(reply: Value) -> Result<Vec<RawEntry>, String> {
    let Value::Array(entries) = reply else {
        return Err("entries are not a list".into());
    };
    let mut out = Vec::new();
    for entry in entries {
        let Value::Array(mut parts) = entry else {
            return Err("an entry is not a list".into());
        };
        if parts.len() != 2 {
            return Err("an entry is not [id, fields]".into());
        }
        let fields = parts.remove(1);
        let id = text(&parts[0])
            .and_then(|s| s.parse::<EntryId>().ok())
            .ok_or("an entry id is not an id")?;
        let fields = match fields {
            Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                .collect(),
            Value::Map(map) => map
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect(),
            _ => Vec::new(),
        };
        out.push((id, fields));
    }
    Ok(out)
}

/// A reply's text, whichever way it was sent.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A map reply (RESP3) or a flat `[key, value, ...]` list (RESP2) as pairs.
fn pairs(value: Value) -> Vec<(String, Value)> {
    match value {
        Value::Map(map) => map
            .into_iter()
            .filter_map(|(k, v)| Some((text(&k)?, v)))
            .collect(),
        Value::Array(flat) => {
            let mut out = Vec::new();
            let mut items = flat.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                if let Some(k) = text(&k) {
                    out.push((k, v));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(vec![
                bulk("kind"),
                bulk("sid"),
                bulk("value"),
                bulk("s"),
                bulk("until"),
                bulk("9"),
            ]),
        ])
    }

    #[test]
    fn xread_replies_parse_in_both_protocols() {
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![entry("1-0"), entry("2-5")]),
        ])]);
        let resp3 = Value::Map(vec![(bulk("k"), Value::Array(vec![entry("1-0"), entry("2-5")]))]);
        for reply in [resp2, resp3] {
            let page = parse_xread(reply).unwrap();
            assert_eq!(page.len(), 2);
            assert_eq!(page[1].0, EntryId { ms: 2, seq: 5 });
            assert_eq!(page[0].1[1], ("value".to_string(), "s".to_string()));
        }
        assert!(parse_xread(Value::Nil).unwrap().is_empty());
        assert!(parse_xread(Value::Int(3)).is_err());
        assert!(parse_xread(Value::Array(vec![Value::Array(vec![bulk("k"), Value::Int(1)])])).is_err());
    }

    #[test]
    fn it_resumes_after_the_last_entry_only_when_nothing_after_it_can_be_lost() {
        let id = |ms| EntryId { ms, seq: 0 };
        let info = |length, first, generated, deleted| StreamInfo {
            length,
            first: Some(id(first)),
            last_generated: Some(id(generated)),
            max_deleted: Some(id(deleted)),
        };
        let last = id(10);
        assert_eq!(resume_after(last, &info(3, 5, 20, 0)), last, "continuous");
        assert_eq!(resume_after(last, &info(3, 10, 10, 4)), last, "nothing new");
        assert_eq!(
            resume_after(last, &info(3, 11, 20, 0)),
            EntryId::ZERO,
            "trimmed past last"
        );
        assert_eq!(
            resume_after(last, &info(3, 5, 9, 0)),
            EntryId::ZERO,
            "another stream"
        );
        assert_eq!(
            resume_after(last, &info(3, 5, 20, 12)),
            EntryId::ZERO,
            "deleted after last"
        );
        assert_eq!(resume_after(last, &info(0, 0, 20, 0)), EntryId::ZERO, "emptied");
        assert_eq!(
            resume_after(last, &StreamInfo::default()),
            EntryId::ZERO,
            "unreadable"
        );
    }

    #[test]
    fn xinfo_stream_replies_are_read() {
        let reply = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("9-0"),
            bulk("max-deleted-entry-id"),
            bulk("0-0"),
            bulk("first-entry"),
            entry("3-1"),
        ]);
        let info = StreamInfo::from_reply(reply);
        assert_eq!(info.length, 2);
        assert_eq!(info.first, Some(EntryId { ms: 3, seq: 1 }));
        assert_eq!(info.last_generated, Some(EntryId { ms: 9, seq: 0 }));
    }

    #[test]
    fn xinfo_replies_read_as_pairs_in_both_protocols() {
        let flat = Value::Array(vec![
            bulk("last-generated-id"),
            bulk("5-0"),
            bulk("length"),
            Value::Int(3),
        ]);
        let map = Value::Map(vec![(bulk("last-generated-id"), bulk("5-0"))]);
        assert_eq!(text(&pairs(flat)[0].1).as_deref(), Some("5-0"));
        assert_eq!(pairs(map)[0].0, "last-generated-id");
    }
}

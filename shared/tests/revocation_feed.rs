//! The revocation feed's follower against a real Redis: what it applies, what it forgets, and how it
//! recovers from entries it could not read. Entries are written here with plain `XADD`s in the
//! documented format, as the auth service's scripts write them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::revocation::feed::{FeedSettings, RevocationFeed, WhenStale};
use shared::revocation::{feed_key, Verdict};
use shared::{AccessClaims, Clock, Rol, SystemClock, TokenKind};
use test_support::{free_port, RedisProcess};

/// The Redis the tests share ([`test_support::redis_url`]).
fn redis_url() -> String {
    test_support::redis_url()
}

fn prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

fn claims(sub: &str, sid: &str, jti: &str) -> AccessClaims {
    let now = SystemClock.now_secs();
    AccessClaims {
        sub: sub.into(),
        jti: jti.into(),
        sid: sid.into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
        iss: "auth-service".into(),
        aud: "solicitud-transporte-api".into(),
        typ: TokenKind::Access,
        username: "u".into(),
        email: "u@example.com".into(),
        rol: Some(Rol::Usuario),
        client_id: None,
        scope: None,
    }
}

fn follow(url: &str, prefix: &str, settings: FeedSettings) -> RevocationFeed {
    let feed = RevocationFeed::new(url, prefix, settings, Arc::new(SystemClock)).unwrap();
    feed.spawn();
    feed
}

async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Adds an entry (id `*` unless given); returns its id.
async fn xadd(
    c: &mut redis::aio::MultiplexedConnection,
    key: &str,
    id: &str,
    fields: &[(&str, String)],
) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg(id);
    for (k, v) in fields {
        cmd.arg(*k).arg(v);
    }
    cmd.query_async(c).await.unwrap()
}

fn sid_entry(sid: &str, until_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "sid".into()),
        ("value", sid.into()),
        ("until", until_ms.to_string()),
    ]
}

/// Waits (at most `limit`) until `check` holds.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn metric(name: &str) -> f64 {
    shared::metrics::metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_follower_applies_what_it_reads_skips_what_it_cannot_parse_and_forgets_what_expired() {
    let url = redis_url();
    let prefix = prefix();
    let key = feed_key(&prefix);
    let mut c = conn(&url).await;
    let now = SystemClock.now_ms();
    // Written before the follower starts: read at boot.
    xadd(&mut c, &key, "*", &sid_entry("boot", now + 60_000)).await;
    xadd(&mut c, &key, "*", &sid_entry("short", now + 1500)).await;
    let feed = follow(&url, &prefix, FeedSettings::default());
    assert_eq!(
        feed.verdict(&claims("1", "x", "y")),
        Verdict::Unavailable,
        "not loaded yet"
    );
    eventually(Duration::from_secs(3), "loaded", || feed.is_current()).await;
    assert_eq!(feed.verdict(&claims("1", "boot", "j")), Verdict::Revoked);
    assert_eq!(feed.verdict(&claims("1", "short", "j")), Verdict::Revoked);
    assert_eq!(feed.verdict(&claims("1", "other", "j")), Verdict::Valid);

    // Followed: a malformed entry is skipped and counted; the ones after it still apply.
    let malformed = metric("revocation_feed_malformed_total");
    xadd(
        &mut c,
        &key,
        "*",
        &[("kind", "nonsense".into()), ("value", "v".into())],
    )
    .await;
    xadd(
        &mut c,
        &key,
        "*",
        &[
            ("kind", "jti".into()),
            ("value", "j9".into()),
            ("until", (now + 60_000).to_string()),
        ],
    )
    .await;
    let cutoff = (now / 1000) * 1000 + 999;
    xadd(
        &mut c,
        &key,
        "*",
        &[
            ("kind", "sub".into()),
            ("value", "7".into()),
            ("cutoff", cutoff.to_string()),
            ("until", (now + 60_000).to_string()),
        ],
    )
    .await;
    eventually(Duration::from_secs(2), "the jti entry", || {
        feed.verdict(&claims("1", "s", "j9")) == Verdict::Revoked
    })
    .await;
    eventually(Duration::from_secs(2), "the cut-off", || {
        feed.verdict(&claims("7", "s", "j")) == Verdict::Revoked
    })
    .await;
    assert!(metric("revocation_feed_malformed_total") > malformed);

    // Past its until, an entry is ignored at once and swept out of the set.
    let before = feed.deny_set_len();
    eventually(Duration::from_secs(5), "the short entry expires", || {
        feed.verdict(&claims("1", "short", "j")) == Verdict::Valid && feed.deny_set_len() < before
    })
    .await;
    assert_eq!(feed.verdict(&claims("1", "boot", "j")), Verdict::Revoked);
}

#[tokio::test]
async fn a_feed_that_never_loaded_fails_closed_or_allows_as_configured() {
    let url = format!("redis://127.0.0.1:{}", free_port().unwrap());
    let closed = follow(&url, "x:", FeedSettings::default());
    let open = follow(
        &url,
        "x:",
        FeedSettings {
            when_stale: WhenStale::Allow,
            ..FeedSettings::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(closed.verdict(&claims("1", "s", "j")), Verdict::Unavailable);
    assert!(closed.ready().is_err());
    let accepted = metric("revocation_stale_accepted_total");
    assert_eq!(open.verdict(&claims("1", "s", "j")), Verdict::Valid);
    assert!(open.ready().is_ok());
    assert!(metric("revocation_stale_accepted_total") > accepted);
}

#[tokio::test]
async fn a_feed_key_of_another_type_keeps_the_feed_stale_until_it_is_a_stream_again() {
    let url = redis_url();
    let prefix = prefix();
    let key = feed_key(&prefix);
    let mut c = conn(&url).await;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not a stream")
        .query_async(&mut c)
        .await
        .unwrap();
    let feed = follow(&url, &prefix, FeedSettings::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(feed.verdict(&claims("1", "s", "j")), Verdict::Unavailable);
    assert!(!feed.is_current());
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut c).await.unwrap();
    xadd(&mut c, &key, "*", &sid_entry("s", SystemClock.now_ms() + 60_000)).await;
    eventually(Duration::from_secs(5), "current again", || feed.is_current()).await;
    assert_eq!(feed.verdict(&claims("1", "s", "j")), Verdict::Revoked);
    assert_eq!(feed.verdict(&claims("1", "t", "j")), Verdict::Valid);
}

/// A Redis of our own where the follower logs in as `feed`, so the test can lock it out while it
/// changes the stream behind its back.
struct LockableRedis {
    _redis: RedisProcess,
    admin: redis::aio::MultiplexedConnection,
    feed_url: String,
}

impl LockableRedis {
    async fn start() -> Self {
        let redis = RedisProcess::start(free_port().unwrap()).unwrap();
        let mut admin = conn(&redis.url()).await;
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "feed", "on", ">feed-password", "~*", "+@all"][..])
            .query_async(&mut admin)
            .await
            .unwrap();
        let feed_url = format!("redis://feed:feed-password@127.0.0.1:{}", redis.port);
        Self {
            _redis: redis,
            admin,
            feed_url,
        }
    }

    /// The follower is disconnected and cannot log in again until [`LockableRedis::unlock`].
    async fn lock_out(&mut self) {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "feed", "off"][..])
            .query_async(&mut self.admin)
            .await
            .unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "USER", "feed"][..])
            .query_async(&mut self.admin)
            .await
            .unwrap();
    }

    async fn unlock(&mut self) {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "feed", "on"][..])
            .query_async(&mut self.admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn entries_lost_unread_make_the_follower_read_the_whole_stream_again() {
    let mut redis = LockableRedis::start().await;
    let prefix = prefix();
    let key = feed_key(&prefix);
    let now = SystemClock.now_ms();
    let feed = follow(&redis.feed_url, &prefix, FeedSettings::default());
    xadd(&mut redis.admin, &key, "*", &sid_entry("a", now + 60_000)).await;
    eventually(Duration::from_secs(3), "a", || {
        feed.verdict(&claims("1", "a", "j")) == Verdict::Revoked
    })
    .await;
    let reloads = metric("revocation_feed_reloads_total");
    let reconnects = metric("revocation_feed_reconnects_total");

    // A new stream (deleted and written again, ids behind the last one read): resuming after the
    // last id would never see `b`.
    redis.lock_out().await;
    let _: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis.admin)
        .await
        .unwrap();
    xadd(&mut redis.admin, &key, "1-1", &sid_entry("b", now + 60_000)).await;
    redis.unlock().await;
    eventually(Duration::from_secs(5), "b after a reload", || {
        feed.verdict(&claims("1", "b", "j")) == Verdict::Revoked
    })
    .await;
    assert!(metric("revocation_feed_reloads_total") > reloads);
    assert!(metric("revocation_feed_reconnects_total") > reconnects);
    assert_eq!(
        feed.verdict(&claims("1", "a", "j")),
        Verdict::Revoked,
        "what was held before the reload stays until its own until"
    );

    // Entries trimmed before they were read: `max-deleted-entry-id` is past the last id read.
    let reloads = metric("revocation_feed_reloads_total");
    redis.lock_out().await;
    xadd(&mut redis.admin, &key, "*", &sid_entry("c", now + 60_000)).await;
    let d = xadd(&mut redis.admin, &key, "*", &sid_entry("d", now + 60_000)).await;
    let _: i64 = redis::cmd("XTRIM")
        .arg(&key)
        .arg("MINID")
        .arg(&d)
        .query_async(&mut redis.admin)
        .await
        .unwrap();
    redis.unlock().await;
    eventually(Duration::from_secs(5), "d", || {
        feed.verdict(&claims("1", "d", "j")) == Verdict::Revoked
    })
    .await;
    assert!(metric("revocation_feed_reloads_total") > reloads);

    // Reconnecting with nothing lost resumes where it was: no reload.
    let reloads = metric("revocation_feed_reloads_total");
    redis.lock_out().await;
    xadd(&mut redis.admin, &key, "*", &sid_entry("e", now + 60_000)).await;
    redis.unlock().await;
    eventually(Duration::from_secs(5), "e", || {
        feed.verdict(&claims("1", "e", "j")) == Verdict::Revoked
    })
    .await;
    assert_eq!(metric("revocation_feed_reloads_total"), reloads);
}

//! The store conformance suite: the same checks against Redis and the embedded store.

use std::sync::Arc;

use auth_service::store::keys::Keys;

use auth_service::store::memory::MemoryStore;
use auth_service::store::redis::RedisStore;
use auth_service::store::{
    fingerprint, Counter, Gate, LimitStore, NewSession, RevocationStore, RotateOutcome, Rotation,
    SessionStart, SessionStore, SessionView, StoreHealth, Stores, Taken, UserRecord, UserUpdate,
};
use auth_service::store::{EntryId, FeedEntry, DEFAULT_FEED_LIFE_MS};
use futures::future::join_all;
use shared::{Clock, ManualClock};

use crate::helpers::{redis_url, unique_prefix};

const HOUR_MS: i64 = 3_600_000;

/// A session start that must have happened: its start (ms).
trait Started {
    fn started(self) -> i64;
}

impl Started for SessionStart {
    fn started(self) -> i64 {
        match self {
            SessionStart::Started { started_ms, .. } => started_ms,
            SessionStart::Refused => panic!("the session was refused"),
        }
    }
}

/// A store, and a way to move its time (the embedded store's clock; Redis's test offset).
struct Fixture {
    store: Stores,
    advance: Box<dyn Fn(i64) + Send + Sync>,
}

impl Fixture {
    fn advance_ms(&self, ms: i64) {
        (self.advance)(ms);
    }
}

fn memory() -> Fixture {
    memory_with_feed_life(DEFAULT_FEED_LIFE_MS)
}

fn memory_with_feed_life(life_ms: i64) -> Fixture {
    let clock = ManualClock::starting_now();
    let store = Arc::new(MemoryStore::new(Arc::new(clock.clone())).with_feed_life_ms(life_ms));
    Fixture {
        store: Stores::of(store),
        advance: Box::new(move |ms| clock.set_ms(clock.now_ms() + ms)),
    }
}

fn redis() -> Fixture {
    redis_with_feed_life(DEFAULT_FEED_LIFE_MS)
}

fn redis_with_feed_life(life_ms: i64) -> Fixture {
    let store = Arc::new(
        RedisStore::new(&redis_url(), &unique_prefix())
            .unwrap()
            .with_feed_life_ms(life_ms),
    );
    Fixture {
        store: Stores::of(store.clone()),
        advance: Box::new(move |ms| store.advance_time_ms(ms)),
    }
}

/// A user record as a test creates it (id 0: the next free one).
fn user(id: u64, name: &str) -> UserRecord {
    UserRecord {
        id,
        username: name.into(),
        email: format!("{name}@example.com"),
        rol: "usuario".into(),
        password_hash: "h".into(),
        virtual_operator: "saphety".into(),
        active: true,
        version: 0,
        config: String::new(),
        reset: String::new(),
    }
}

async fn create(f: &Fixture, record: &UserRecord) -> Result<UserRecord, Taken> {
    f.store
        .users
        .create_user(
            record,
            &record.username.to_lowercase(),
            &record.email.to_lowercase(),
        )
        .await
        .unwrap()
}

/// Users 1, 2 and 7, whose sessions the checks start (every session's user must exist and be active).
async fn seed_users(f: &Fixture) {
    for (id, name) in [(1, "uno"), (2, "dos"), (7, "siete")] {
        create(f, &user(id, name)).await.unwrap();
    }
}

/// Writes `record` over its stored version, with the index keys a test uses.
async fn update(f: &Fixture, record: &UserRecord, end_sessions: Option<i64>) -> UserUpdate {
    f.store
        .users
        .update_user(
            record,
            &record.username.to_lowercase(),
            &record.email.to_lowercase(),
            end_sessions,
        )
        .await
        .unwrap()
}

fn session(sid: &str, uid: &str) -> NewSession {
    NewSession {
        sid: sid.into(),
        uid: uid.into(),
        fingerprint: fingerprint("h"),
        refresh_jti: format!("{sid}-r0"),
        access_jti: format!("{sid}-a0"),
        ttl_ms: HOUR_MS,
        cutoff_seen: None,
    }
}

fn rotation(sid: &str, presented: &str, next: &str, grace_ms: i64) -> Rotation {
    Rotation {
        sid: sid.into(),
        uid: "1".into(),
        presented_jti: presented.into(),
        grace_ms,
        new_refresh_jti: format!("{next}-r"),
        new_access_jti: format!("{next}-a"),
        ttl_ms: HOUR_MS,
        gate: None,
    }
}

/// Runs one conformance check against both stores.
macro_rules! conformance {
    ($name:ident, $check:ident) => {
        mod $name {
            #[tokio::test]
            async fn on_redis() {
                let f = super::redis();
                super::seed_users(&f).await;
                super::$check(f).await;
            }
            #[tokio::test]
            async fn on_the_embedded_store() {
                let f = super::memory();
                super::seed_users(&f).await;
                super::$check(f).await;
            }
        }
    };
}

conformance!(a_new_session_is_active, new_session_is_active);
async fn new_session_is_active(f: Fixture) {
    let started = f
        .store
        .sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    assert!(started > 1_577_836_800_000, "the store's now, in ms: {started}");
    let next = f
        .store
        .sessions
        .create_session(&session("s0", "1"))
        .await
        .unwrap()
        .started();
    assert!(next >= started, "{next} < {started}");
    match f
        .store
        .sessions
        .session_view("s1", "1", Some("s1-a0"))
        .await
        .unwrap()
    {
        SessionView::Active {
            user,
            current_refresh_jti,
        } => {
            assert_eq!(current_refresh_jti, "s1-r0");
            assert_eq!(
                (user.id, user.username.as_str()),
                (1, "uno"),
                "the user comes with it"
            );
        }
        SessionView::Revoked => panic!("a new session is revoked"),
    }
    assert_eq!(
        f.store.sessions.session_view("s1", "2", Some("x")).await.unwrap(),
        SessionView::Revoked,
        "another user's sid"
    );
    assert_eq!(
        f.store
            .sessions
            .session_view("nope", "1", Some("x"))
            .await
            .unwrap(),
        SessionView::Revoked,
        "unknown sid"
    );
}

conformance!(rotation_replay_and_reuse, rotation_replay_reuse);
async fn rotation_replay_reuse(f: Fixture) {
    let s = &f.store;
    let started = s
        .sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    f.advance_ms(1000);
    let RotateOutcome::Rotated(rotated, rotated_user) = s
        .sessions
        .rotate(&rotation("s1", "s1-r0", "g1", 10_000))
        .await
        .unwrap()
    else {
        panic!("not rotated");
    };
    assert_eq!(
        rotated_user.username, "uno",
        "the user as stored comes with the rotation"
    );
    // The store stamps the rotation with its own time, one second (and whatever really passed) later.
    assert_eq!(rotated.started_ms, started);
    let after = rotated.issued_ms - started;
    assert!((1000..3000).contains(&after), "issued {after} ms after the start");
    assert_eq!(
        (rotated.refresh_jti.as_str(), rotated.access_jti.as_str()),
        ("g1-r", "g1-a")
    );
    // Within the grace: the same generation, whatever new jtis the caller proposes.
    f.advance_ms(4000);
    let replayed = s
        .sessions
        .rotate(&rotation("s1", "s1-r0", "other", 10_000))
        .await
        .unwrap();
    assert_eq!(replayed, RotateOutcome::Replayed(rotated, rotated_user));
    // Past the grace (11 s after the rotation): reuse, and the session is revoked.
    f.advance_ms(7000);
    let reused = s
        .sessions
        .rotate(&rotation("s1", "s1-r0", "late", 10_000))
        .await
        .unwrap();
    assert_eq!(reused, RotateOutcome::Reused);
    f.advance_ms(1000);
    assert_eq!(
        s.sessions
            .rotate(&rotation("s1", "g1-r", "g2", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
    assert_eq!(
        s.sessions.session_view("s1", "1", Some("g1-a")).await.unwrap(),
        SessionView::Revoked
    );
}

conformance!(a_used_successor_ends_the_grace, used_successor_ends_grace);
async fn used_successor_ends_grace(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    assert!(matches!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g1", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Rotated(..)
    ));
    assert!(matches!(
        s.sessions
            .rotate(&rotation("s1", "g1-r", "g2", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Rotated(..)
    ));
    assert_eq!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g3", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
}

conformance!(grace_zero_means_one_use, grace_zero);
async fn grace_zero(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    assert!(matches!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g1", 0))
            .await
            .unwrap(),
        RotateOutcome::Rotated(..)
    ));
    assert_eq!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g2", 0))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
}

conformance!(concurrent_rotations_rotate_once, concurrent_rotations);
async fn concurrent_rotations(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    let attempts: Vec<Rotation> = (0..50)
        .map(|i| rotation("s1", "s1-r0", &format!("c{i}"), 10_000))
        .collect();
    let outcomes = join_all(attempts.iter().map(|r| s.sessions.rotate(r))).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RotateOutcome::Rotated(..))))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RotateOutcome::Replayed(..))))
        .count();
    assert_eq!((rotated, replayed), (1, 49));
}

conformance!(a_changed_credential_revokes_the_session, changed_credential);
async fn changed_credential(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    let stored = s.users.user(1).await.unwrap().unwrap();
    let changed = UserRecord {
        password_hash: "new-password".into(),
        ..stored
    };
    assert!(matches!(
        update(&f, &changed, None).await,
        UserUpdate::Updated { .. }
    ));
    assert_eq!(
        s.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Revoked,
        "a session of the old password is not good"
    );
    let r = rotation("s1", "s1-r0", "g1", 10_000);
    assert_eq!(s.sessions.rotate(&r).await.unwrap(), RotateOutcome::Revoked);
    assert_eq!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g1", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
}

conformance!(revoking_a_session_and_a_jti, revoke_session);
async fn revoke_session(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    s.sessions
        .create_session(&session("s2", "1"))
        .await
        .unwrap()
        .started();
    s.revocations
        .revoke_session("1", "s1", Some(("s2-a0", HOUR_MS)))
        .await
        .unwrap();
    assert_eq!(
        s.sessions.session_view("s1", "1", Some("s1-a0")).await.unwrap(),
        SessionView::Revoked
    );
    // s2 is alive, but its revoked access jti is not.
    assert_eq!(
        s.sessions.session_view("s2", "1", Some("s2-a0")).await.unwrap(),
        SessionView::Revoked
    );
    assert!(matches!(
        s.sessions.session_view("s2", "1", Some("other")).await.unwrap(),
        SessionView::Active { .. }
    ));
    assert_eq!(
        s.sessions
            .rotate(&rotation("s1", "s1-r0", "g1", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
}

conformance!(
    a_session_revoked_before_it_starts_never_starts,
    revoke_before_start
);
async fn revoke_before_start(f: Fixture) {
    let s = &f.store;
    // A logout of a session that never started leaves no mark: that session could still start.
    s.revocations.revoke_session("1", "plain", None).await.unwrap();
    s.sessions
        .create_session(&session("plain", "1"))
        .await
        .unwrap()
        .started();
    // An authorization code's replay revokes the session its first exchange has not started yet.
    s.revocations
        .revoke_session_even_unstarted("1", "early")
        .await
        .unwrap();
    assert!(
        matches!(
            s.sessions.create_session(&session("early", "1")).await.unwrap(),
            SessionStart::Refused
        ),
        "a session revoked before it started was started"
    );
    assert_eq!(
        s.sessions
            .session_view("early", "1", Some("early-a0"))
            .await
            .unwrap(),
        SessionView::Revoked
    );
    assert_eq!(
        s.sessions
            .rotate(&rotation("early", "early-r0", "g1", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
    // No token of it ever existed: the feed carries nothing for it.
    assert!(feed(&f).await.is_empty(), "{:?}", feed(&f).await);
    // Revoking it again changes nothing; other sessions start as ever.
    s.revocations
        .revoke_session_even_unstarted("1", "early")
        .await
        .unwrap();
    assert!(feed(&f).await.is_empty());
    s.sessions
        .create_session(&session("later", "1"))
        .await
        .unwrap()
        .started();
    // A start repeated after a failover (the same session, started) starts again.
    s.sessions
        .create_session(&session("later", "1"))
        .await
        .unwrap()
        .started();
}

conformance!(revoking_a_user_ends_earlier_sessions_only, revoke_user);
async fn revoke_user(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    s.sessions
        .create_session(&session("other", "2"))
        .await
        .unwrap()
        .started();
    let cutoff = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    assert_eq!(
        s.sessions.session_view("s1", "1", Some("x")).await.unwrap(),
        SessionView::Revoked
    );
    assert!(matches!(
        s.sessions.session_view("other", "2", Some("x")).await.unwrap(),
        SessionView::Active { .. }
    ));
    // A session started in the cut-off's millisecond or earlier (the store's clock stepped back) is
    // moved just after it: never born revoked.
    f.advance_ms(-1000);
    let started = s
        .sessions
        .create_session(&session("s2", "1"))
        .await
        .unwrap()
        .started();
    assert_eq!(started, cutoff + 1);
    assert!(matches!(
        s.sessions.session_view("s2", "1", Some("x")).await.unwrap(),
        SessionView::Active { .. }
    ));
    // Another logout-all, even by a clock behind the cut-off, ends every session that exists, this one
    // too: the cut-off moves forward past it (to the end of its second), never back.
    let again = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    assert!(again > started, "{again} <= {started}");
    assert_eq!(again.rem_euclid(1000), 999);
    assert_eq!(
        s.sessions.session_view("s2", "1", Some("x")).await.unwrap(),
        SessionView::Revoked
    );
    // A later one moves it further.
    f.advance_ms(3000);
    assert!(s.revocations.revoke_user("1", HOUR_MS).await.unwrap() > again);
}

#[tokio::test]
async fn redis_keeps_everything_with_a_ttl() {
    let prefix = unique_prefix();
    let store = RedisStore::new(&redis_url(), &prefix)
        .unwrap()
        .with_feed_life_ms(HOUR_MS);
    auth_service::store::UserStore::create_user(&store, &user(1, "uno"), "uno", "uno@example.com")
        .await
        .unwrap()
        .unwrap();
    store.create_session(&session("s1", "1")).await.unwrap().started();
    store
        .revoke_session("1", "s1", Some(("j1", 60_000)))
        .await
        .unwrap();
    store.revoke_user("1", 120_000).await.unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    // The layout marker is kept (two bytes, one per deployment): it says the old layout is renamed.
    let marker = auth_service::store::keys::Keys::new(&prefix).layout();
    assert!(keys.contains(&marker), "{keys:?}");
    keys.retain(|k| *k != marker);
    // The user's record and the user indexes are kept for good: users are not state that expires.
    keys.retain(|k| !k.ends_with(":user") && !k.contains("{users}"));
    assert_eq!(
        keys.len(),
        5,
        "session, jti, cut-off, issue mark and the feed: {keys:?}"
    );
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0 && ttl <= HOUR_MS, "{key} has TTL {ttl}");
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_an_answer() {
    let store = RedisStore::new("redis://127.0.0.1:1", "x:").unwrap();
    assert!(store.ping().await.is_err());
    assert!(store.session_view("s", "1", Some("j")).await.is_err());
    assert!(store.rotate(&rotation("s", "r", "n", 0)).await.is_err());
}

conformance!(mfa_enrolment_steps_and_recovery_codes, mfa_state);
async fn mfa_state(f: Fixture) {
    use auth_service::store::MfaRecord;
    let s = &f.store;
    assert_eq!(s.mfa.mfa_record("1").await.unwrap(), MfaRecord::default());
    assert!(s.mfa.mfa_set_pending("1", "sealed-a", HOUR_MS).await.unwrap());
    assert!(
        s.mfa.mfa_set_pending("1", "sealed-b", HOUR_MS).await.unwrap(),
        "a pending secret is replaced"
    );
    assert!(
        !s.mfa.mfa_activate("1", "sealed-a", 100, &[]).await.unwrap(),
        "only the current pending one"
    );
    let hashes = vec!["h1".to_string(), "h2".to_string()];
    assert!(s.mfa.mfa_activate("1", "sealed-b", 100, &hashes).await.unwrap());
    assert_eq!(
        s.mfa.mfa_record("1").await.unwrap(),
        MfaRecord {
            pending: None,
            active: Some("sealed-b".into())
        }
    );
    assert!(
        !s.mfa.mfa_set_pending("1", "sealed-c", HOUR_MS).await.unwrap(),
        "never over an active one"
    );
    // Steps only move forward: the activation step and anything before it are spent.
    assert!(!s.mfa.mfa_accept_step("1", 100).await.unwrap());
    assert!(!s.mfa.mfa_accept_step("1", 99).await.unwrap());
    assert!(s.mfa.mfa_accept_step("1", 101).await.unwrap());
    assert!(!s.mfa.mfa_accept_step("1", 101).await.unwrap());
    assert!(!s.mfa.mfa_accept_step("2", 500).await.unwrap(), "no MFA, no step");
    assert!(s.mfa.mfa_use_recovery("1", "h1").await.unwrap());
    assert!(!s.mfa.mfa_use_recovery("1", "h1").await.unwrap());
    assert!(!s.mfa.mfa_use_recovery("1", "nope").await.unwrap());
    s.mfa.mfa_disable("1").await.unwrap();
    assert_eq!(s.mfa.mfa_record("1").await.unwrap(), MfaRecord::default());
    assert!(
        !s.mfa.mfa_use_recovery("1", "h2").await.unwrap(),
        "recovery codes go with it"
    );
}

conformance!(a_challenge_allows_five_tries_and_one_success, mfa_challenge);
async fn mfa_challenge(f: Fixture) {
    use auth_service::store::ChallengeTry;
    let s = &f.store;
    for _ in 0..5 {
        assert_eq!(
            s.challenges.mfa_challenge_try("c1", 5, 60_000).await.unwrap(),
            ChallengeTry::Allowed
        );
    }
    assert_eq!(
        s.challenges.mfa_challenge_try("c1", 5, 60_000).await.unwrap(),
        ChallengeTry::Exhausted
    );
    assert_eq!(
        s.challenges.mfa_challenge_try("c2", 5, 60_000).await.unwrap(),
        ChallengeTry::Allowed
    );
    assert!(s.challenges.mfa_challenge_finish("c2", 60_000).await.unwrap());
    assert!(!s.challenges.mfa_challenge_finish("c2", 60_000).await.unwrap());
    assert_eq!(
        s.challenges.mfa_challenge_try("c2", 5, 60_000).await.unwrap(),
        ChallengeTry::Used
    );
}

conformance!(concurrent_uses_of_one_totp_step_accept_one, concurrent_steps);
async fn concurrent_steps(f: Fixture) {
    let s = &f.store;
    s.mfa.mfa_set_pending("1", "x", HOUR_MS).await.unwrap();
    s.mfa
        .mfa_activate("1", "x", 10, &["r".to_string()])
        .await
        .unwrap();
    let steps = join_all((0..20).map(|_| s.mfa.mfa_accept_step("1", 11))).await;
    assert_eq!(steps.iter().filter(|r| matches!(r, Ok(true))).count(), 1);
    let codes = join_all((0..20).map(|_| s.mfa.mfa_use_recovery("1", "r"))).await;
    assert_eq!(codes.iter().filter(|r| matches!(r, Ok(true))).count(), 1);
}

/// A rate-limit counter (limit 2 a minute), as the gate of a refresh and of a login both name it.
fn counter(key: &str) -> Counter {
    Counter {
        key: key.into(),
        limit: 2,
        window_ms: 60_000,
    }
}

fn gated(c: &Counter) -> Rotation {
    Rotation {
        gate: Some(c.clone()),
        ..rotation("no-such-session", "r", "n", 0)
    }
}

fn limited_within_window(outcome: &RotateOutcome) -> bool {
    matches!(outcome, RotateOutcome::Limited { retry_after_ms } if (1..=60_000).contains(retry_after_ms))
}

conformance!(gate_and_rotate_count_one_counter_alike, gate_and_rotate_agree);
async fn gate_and_rotate_agree(f: Fixture) {
    let s = &f.store;
    // Each alone: two hits pass, the third is over.
    let by_gate = counter("ip:gate");
    assert_eq!(
        s.limits.gate(std::slice::from_ref(&by_gate), &[]).await.unwrap(),
        Gate::Open
    );
    assert_eq!(
        s.limits.gate(std::slice::from_ref(&by_gate), &[]).await.unwrap(),
        Gate::Open
    );
    assert!(matches!(
        s.limits.gate(&[by_gate], &[]).await.unwrap(),
        Gate::Limited { retry_after_ms } if (1..=60_000).contains(&retry_after_ms)
    ));
    let by_rotate = counter("ip:rotate");
    assert_eq!(
        s.sessions.rotate(&gated(&by_rotate)).await.unwrap(),
        RotateOutcome::Revoked
    );
    assert_eq!(
        s.sessions.rotate(&gated(&by_rotate)).await.unwrap(),
        RotateOutcome::Revoked
    );
    assert!(limited_within_window(
        &s.sessions.rotate(&gated(&by_rotate)).await.unwrap()
    ));
    // One counter, hit by both: they count together.
    let shared = counter("ip:shared");
    assert_eq!(
        s.limits.gate(std::slice::from_ref(&shared), &[]).await.unwrap(),
        Gate::Open
    );
    assert_eq!(
        s.sessions.rotate(&gated(&shared)).await.unwrap(),
        RotateOutcome::Revoked
    );
    assert!(limited_within_window(
        &s.sessions.rotate(&gated(&shared)).await.unwrap()
    ));
    assert!(matches!(
        s.limits.gate(std::slice::from_ref(&shared), &[]).await.unwrap(),
        Gate::Limited { .. }
    ));
    // Two hits by rotate put the counter at its limit, as a lock counter reads it.
    let lock = counter("ip:lock");
    s.sessions.rotate(&gated(&lock)).await.unwrap();
    assert_eq!(
        s.limits.gate(&[], std::slice::from_ref(&lock)).await.unwrap(),
        Gate::Open
    );
    s.sessions.rotate(&gated(&lock)).await.unwrap();
    assert!(matches!(
        s.limits.gate(&[], &[lock]).await.unwrap(),
        Gate::Limited { .. }
    ));
}

/// The drift the shared Lua fragment removed: a counter left without a TTL got its window back from
/// the gate script but not from the rotation script's copy, so it stayed over its limit forever.
#[tokio::test]
async fn on_redis_gate_and_rotate_both_give_a_counter_without_ttl_its_window_back() {
    let prefix = unique_prefix();
    let store = RedisStore::new(&redis_url(), &prefix).unwrap();
    let keys = Keys::new(&prefix);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for (name, by_rotate) in [("ip:gate", false), ("ip:rotate", true)] {
        let c = counter(name);
        let key = keys.rate_limit(name);
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(5)
            .query_async(&mut conn)
            .await
            .unwrap();
        let retry_after_ms = if by_rotate {
            match store.rotate(&gated(&c)).await.unwrap() {
                RotateOutcome::Limited { retry_after_ms } => retry_after_ms,
                other => panic!("{other:?}"),
            }
        } else {
            match store.gate(&[c], &[]).await.unwrap() {
                Gate::Limited { retry_after_ms } => retry_after_ms,
                Gate::Open => panic!("open"),
            }
        };
        assert_eq!(retry_after_ms, 60_000, "{name}");
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(
            ttl > 0 && ttl <= 60_000,
            "{name}: the window is set again, TTL {ttl}"
        );
    }
}

conformance!(a_refresh_view_ignores_access_token_revocations, refresh_view);
async fn refresh_view(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    s.revocations
        .revoke_session("1", "other", Some(("s1-a0", HOUR_MS)))
        .await
        .unwrap();
    assert_eq!(
        s.sessions.session_view("s1", "1", Some("s1-a0")).await.unwrap(),
        SessionView::Revoked,
        "the access token is revoked"
    );
    assert!(
        matches!(
            s.sessions.session_view("s1", "1", None).await.unwrap(),
            SessionView::Active { current_refresh_jti, .. } if current_refresh_jti == "s1-r0"
        ),
        "the session is not"
    );
}

// ---------------------------------------------------------------------------------------------------
// The revocation feed

/// Every entry of the feed, oldest first, read in pages of two to exercise paging.
async fn feed(f: &Fixture) -> Vec<FeedEntry> {
    let mut out = Vec::new();
    let mut after = EntryId::ZERO;
    loop {
        let page = f.store.feed.feed_after(after, 2).await.unwrap();
        let Some((last, _)) = page.last() else {
            return out;
        };
        after = *last;
        out.extend(page.into_iter().map(|(_, e)| e));
    }
}

fn kinds(entries: &[FeedEntry]) -> Vec<String> {
    use shared::revocation::Revoked;
    entries
        .iter()
        .map(|e| match &e.revoked {
            Revoked::Session(sid) => format!("sid:{sid}"),
            Revoked::Token(jti) => format!("jti:{jti}"),
            Revoked::User { sub, .. } => format!("sub:{sub}"),
        })
        .collect()
}

conformance!(
    every_revocation_is_appended_to_the_feed,
    every_revocation_in_the_feed
);
async fn every_revocation_in_the_feed(f: Fixture) {
    let s = &f.store;
    assert!(feed(&f).await.is_empty());
    for sid in ["s1", "s2", "s3"] {
        s.sessions
            .create_session(&session(sid, "1"))
            .await
            .unwrap()
            .started();
    }
    // Logout: the session and its access token.
    s.revocations
        .revoke_session("1", "s1", Some(("s1-a0", 60_000)))
        .await
        .unwrap();
    // Revoking it again adds the token only: the session was already revoked.
    s.revocations.revoke_session("1", "s1", None).await.unwrap();
    // An unknown session adds nothing.
    s.revocations.revoke_session("1", "nope", None).await.unwrap();
    // Refresh-token reuse revokes the session.
    s.sessions
        .rotate(&rotation("s2", "s2-r0", "g1", 0))
        .await
        .unwrap();
    assert_eq!(
        s.sessions
            .rotate(&rotation("s2", "s2-r0", "g2", 0))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    // A changed credential revokes the session at its next rotation.
    let stored = s.users.user(1).await.unwrap().unwrap();
    let another = UserRecord {
        password_hash: "another".into(),
        ..stored
    };
    assert!(matches!(
        update(&f, &another, None).await,
        UserUpdate::Updated { .. }
    ));
    let changed = rotation("s3", "s3-r0", "g3", 0);
    assert_eq!(s.sessions.rotate(&changed).await.unwrap(), RotateOutcome::Revoked);
    // Logout-all.
    let cutoff = s.revocations.revoke_user("7", HOUR_MS).await.unwrap();
    let entries = feed(&f).await;
    assert_eq!(
        kinds(&entries),
        ["sid:s1", "jti:s1-a0", "sid:s2", "sid:s3", "sub:7"],
        "{entries:?}"
    );
    let now = shared::SystemClock.now_ms();
    let until = |i: usize| entries[i].until_ms;
    // A session entry matters for the feed life; a token's for what is left of it.
    assert!(
        (until(0) - now - DEFAULT_FEED_LIFE_MS).abs() < 60_000,
        "{}",
        until(0)
    );
    assert!((until(1) - now - 60_000).abs() < 60_000, "{}", until(1));
    match &entries[4].revoked {
        shared::revocation::Revoked::User { cutoff_ms, .. } => assert_eq!(*cutoff_ms, cutoff),
        other => panic!("{other:?}"),
    }
}

conformance!(a_cut_off_ends_its_whole_second, cut_off_is_end_of_second);
async fn cut_off_is_end_of_second(f: Fixture) {
    let s = &f.store;
    let cutoff = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    assert_eq!(
        cutoff.rem_euclid(1000),
        999,
        "tokens carry whole seconds: {cutoff}"
    );
    // A login in the cut-off's second starts at the next second, and its rotations are never issued
    // before its start (their iat stays past the cut-off).
    let started = s
        .sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    assert_eq!(started, cutoff + 1);
    let RotateOutcome::Rotated(generation, _) = s
        .sessions
        .rotate(&rotation("s1", "s1-r0", "g1", 0))
        .await
        .unwrap()
    else {
        panic!("not rotated")
    };
    assert!(generation.issued_ms > cutoff, "{generation:?}");
}

mod the_feed_is_trimmed_by_time {
    use super::*;

    async fn check(f: Fixture) {
        let s = &f.store;
        s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
        s.revocations.revoke_user("2", HOUR_MS).await.unwrap();
        assert_eq!(feed(&f).await.len(), 2);
        // Past the feed life (Redis trims on its own clock, the embedded store on its clock).
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        f.advance_ms(700);
        s.revocations.revoke_user("3", HOUR_MS).await.unwrap();
        assert_eq!(kinds(&feed(&f).await), ["sub:3"], "older entries are gone");
    }

    #[tokio::test]
    async fn on_redis() {
        check(redis_with_feed_life(500)).await;
    }

    #[tokio::test]
    async fn on_the_embedded_store() {
        check(memory_with_feed_life(500)).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// Users

conformance!(users_are_created_found_and_kept_unique, users_unique);
async fn users_unique(f: Fixture) {
    let s = &f.store;
    // seed_users made 1, 2 and 7: the next free id follows the largest given.
    let maria = create(&f, &user(0, "maria")).await.unwrap();
    assert_eq!((maria.id, maria.version), (8, 1));
    let found = s.users.user_by_username("maria").await.unwrap().unwrap();
    assert_eq!(found, maria);
    assert_eq!(
        s.users.user_by_email("maria@example.com").await.unwrap(),
        Some(maria.clone())
    );
    assert_eq!(s.users.user(8).await.unwrap(), Some(maria.clone()));
    assert_eq!(s.users.user(99).await.unwrap(), None);
    assert_eq!(s.users.user_by_username("nadie").await.unwrap(), None);

    let mut again = user(0, "maria");
    again.email = "otra@example.com".into();
    assert_eq!(create(&f, &again).await, Err(Taken::Username));
    let mut same_mail = user(0, "otra");
    same_mail.email = "maria@example.com".into();
    assert_eq!(create(&f, &same_mail).await, Err(Taken::Email));
    assert_eq!(create(&f, &user(2, "tres")).await, Err(Taken::Id));
    // A refused create changes nothing.
    assert_eq!(s.users.user_by_username("otra").await.unwrap(), None);

    // Paging by id.
    let ids = |page: Vec<UserRecord>| page.iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(ids(s.users.users_after(0, 2).await.unwrap()), [1, 2]);
    assert_eq!(ids(s.users.users_after(2, 10).await.unwrap()), [7, 8]);
    assert!(s.users.users_after(8, 10).await.unwrap().is_empty());
}

conformance!(concurrent_creates_of_one_name_make_one_user, concurrent_creates);
async fn concurrent_creates(f: Fixture) {
    let records: Vec<UserRecord> = (0..20)
        .map(|i| {
            let mut u = user(0, "pedro");
            u.email = format!("pedro{i}@example.com");
            u
        })
        .collect();
    let outcomes = join_all(records.iter().map(|r| create(&f, r))).await;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let taken = outcomes.iter().filter(|o| **o == Err(Taken::Username)).count();
    assert_eq!((created, taken), (1, 19));
}

conformance!(updates_are_compare_and_set, updates_cas);
async fn updates_cas(f: Fixture) {
    let s = &f.store;
    let read = s.users.user(2).await.unwrap().unwrap();
    let moved = UserRecord {
        email: "dos.nuevo@example.com".into(),
        rol: "admin".into(),
        ..read.clone()
    };
    let UserUpdate::Updated {
        user: written,
        cutoff_ms,
    } = update(&f, &moved, None).await
    else {
        panic!("not updated");
    };
    assert_eq!((written.version, cutoff_ms), (read.version + 1, None));
    assert_eq!(s.users.user(2).await.unwrap(), Some(*written.clone()));
    // The e-mail index moved: the new address finds the user, the old one no one.
    assert_eq!(
        s.users
            .user_by_email("dos.nuevo@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(2)
    );
    assert_eq!(s.users.user_by_email("dos@example.com").await.unwrap(), None);
    // A write over the version read before: stale, nothing written.
    let late = UserRecord {
        active: false,
        ..read.clone()
    };
    assert_eq!(update(&f, &late, None).await, UserUpdate::Stale);
    assert!(s.users.user(2).await.unwrap().unwrap().active);
    // Someone else's e-mail.
    let clash = UserRecord {
        email: "uno@example.com".into(),
        ..*written.clone()
    };
    assert_eq!(update(&f, &clash, None).await, UserUpdate::Taken(Taken::Email));
    let missing = UserRecord { id: 404, ..*written };
    assert_eq!(update(&f, &missing, None).await, UserUpdate::Missing);
}

conformance!(a_weakening_update_ends_the_users_sessions, weakening_update);
async fn weakening_update(f: Fixture) {
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    let read = s.users.user(1).await.unwrap().unwrap();
    let renamed = UserRecord {
        virtual_operator: "acme".into(),
        ..read
    };
    let UserUpdate::Updated { user, cutoff_ms } = update(&f, &renamed, Some(HOUR_MS)).await else {
        panic!("not updated");
    };
    assert!(
        cutoff_ms.is_some_and(|c| c.rem_euclid(1000) == 999),
        "{cutoff_ms:?}"
    );
    assert_eq!(
        s.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Revoked,
        "sessions started before the cut-off end"
    );
    assert_eq!(kinds(&feed(&f).await), ["sub:1"], "and the feed says so");
    // A disabled user: a session started after the cut-off is not good either, and its rotation
    // revokes it.
    s.sessions
        .create_session(&session("s2", "1"))
        .await
        .unwrap()
        .started();
    assert!(matches!(
        s.sessions.session_view("s2", "1", None).await.unwrap(),
        SessionView::Active { .. }
    ));
    let disabled = UserRecord {
        active: false,
        ..*user
    };
    assert!(matches!(
        update(&f, &disabled, None).await,
        UserUpdate::Updated { .. }
    ));
    assert_eq!(
        s.sessions.session_view("s2", "1", None).await.unwrap(),
        SessionView::Revoked
    );
    assert_eq!(
        s.sessions
            .rotate(&rotation("s2", "s2-r0", "g1", 10_000))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
}

/// The embedded store kept in a file: what it held is there after a restart.
#[tokio::test]
async fn the_embedded_store_keeps_its_state_in_its_file() {
    let dir = std::env::temp_dir().join(format!("embedded-store-{}", uuid::Uuid::new_v4()));
    let path = dir.join("state.redb");
    let clock = Arc::new(ManualClock::starting_now());
    {
        let store = Arc::new(MemoryStore::open(clock.clone(), &path).unwrap());
        let f = Fixture {
            store: Stores::of(store),
            advance: Box::new(|_| {}),
        };
        seed_users(&f).await;
        create(&f, &user(0, "maria")).await.unwrap();
        f.store
            .sessions
            .create_session(&session("s1", "1"))
            .await
            .unwrap()
            .started();
        f.store
            .sessions
            .create_session(&session("s2", "1"))
            .await
            .unwrap()
            .started();
        f.store.revocations.revoke_session("1", "s1", None).await.unwrap();
        f.store
            .limits
            .fail(&[Counter {
                key: "fail:x".into(),
                limit: 1,
                window_ms: HOUR_MS,
            }])
            .await
            .unwrap();
    }
    let store = Arc::new(MemoryStore::open(clock, &path).unwrap());
    let s = Stores::of(store);
    assert_eq!(
        s.users.user_by_username("maria").await.unwrap().map(|u| u.id),
        Some(8),
        "a created user"
    );
    assert_eq!(
        s.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Revoked,
        "a revoked session stays revoked"
    );
    assert!(
        matches!(
            s.sessions.session_view("s2", "1", None).await.unwrap(),
            SessionView::Active { .. }
        ),
        "a live session stays live"
    );
    let lock = Counter {
        key: "fail:x".into(),
        limit: 1,
        window_ms: HOUR_MS,
    };
    assert!(
        matches!(s.limits.gate(&[], &[lock]).await.unwrap(), Gate::Limited { .. }),
        "a lock stays"
    );
    // A file that is not the store's: refused with a message, never a panic.
    let junk = dir.join("junk.redb");
    std::fs::write(&junk, b"not a database").unwrap();
    let err = MemoryStore::open(Arc::new(ManualClock::starting_now()), &junk)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("embedded store file"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

conformance!(
    a_session_starts_only_for_the_user_as_proven,
    session_start_rechecks_the_user
);
async fn session_start_rechecks_the_user(f: Fixture) {
    let s = &f.store;
    let SessionStart::Started {
        started_ms,
        now_ms,
        user,
    } = s.sessions.create_session(&session("s1", "1")).await.unwrap()
    else {
        panic!("refused");
    };
    assert_eq!(started_ms, now_ms, "no cut-off: it starts now");
    assert_eq!(user.username, "uno", "the user as stored comes with it");
    // A new password committed while the login's hash ran: the fingerprint it proved is the old one,
    // so nothing starts (before, a session started and its tokens outlived the change at backends).
    let stored = s.users.user(1).await.unwrap().unwrap();
    let changed = UserRecord {
        password_hash: "h2".into(),
        email: "uno.nuevo@example.com".into(),
        ..stored
    };
    assert!(matches!(
        update(&f, &changed, None).await,
        UserUpdate::Updated { .. }
    ));
    assert_eq!(
        s.sessions.create_session(&session("s2", "1")).await.unwrap(),
        SessionStart::Refused
    );
    assert_eq!(
        s.sessions.session_view("s2", "1", None).await.unwrap(),
        SessionView::Revoked,
        "nothing was written"
    );
    // With the credential as it is now it starts, for the user as changed.
    let mut proven = session("s3", "1");
    proven.fingerprint = fingerprint("h2");
    let SessionStart::Started { user, .. } = s.sessions.create_session(&proven).await.unwrap() else {
        panic!("refused");
    };
    assert_eq!(user.email, "uno.nuevo@example.com");
    // A disable committed meanwhile: refused.
    let stored = s.users.user(1).await.unwrap().unwrap();
    let disabled = UserRecord {
        active: false,
        ..stored
    };
    assert!(matches!(
        update(&f, &disabled, None).await,
        UserUpdate::Updated { .. }
    ));
    let mut late = session("s4", "1");
    late.fingerprint = fingerprint("h2");
    assert_eq!(
        s.sessions.create_session(&late).await.unwrap(),
        SessionStart::Refused
    );
    // A login challenge issued before the user's sessions were ended (it saw no cut-off, or an older
    // one) starts nothing; one that saw the cut-off in force does.
    assert_eq!(s.revocations.cutoff("2").await.unwrap(), None);
    let cutoff = s.revocations.revoke_user("2", HOUR_MS).await.unwrap();
    assert_eq!(s.revocations.cutoff("2").await.unwrap(), Some(cutoff));
    let mut challenged = session("s5", "2");
    challenged.cutoff_seen = Some(0);
    assert_eq!(
        s.sessions.create_session(&challenged).await.unwrap(),
        SessionStart::Refused
    );
    challenged.cutoff_seen = Some(cutoff);
    assert!(matches!(
        s.sessions.create_session(&challenged).await.unwrap(),
        SessionStart::Started { .. }
    ));
}

conformance!(
    logging_out_everywhere_again_moves_the_cut_off_only_as_needed,
    cut_off_moves_only_as_needed
);
async fn cut_off_moves_only_as_needed(f: Fixture) {
    let s = &f.store;
    let first = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    let mut last = first;
    for _ in 0..6 {
        last = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    }
    // Seven logout-alls with no login between: the cut-off is the end of the second they ran in (two
    // seconds at most, should the calls straddle one), not one second further per call.
    assert!(last - first <= 1000, "the cut-off ran ahead: {first} -> {last}");
    // A login 1.1 s later starts now, not in the future (its tokens' `nbf` is not ahead).
    f.advance_ms(1100);
    let SessionStart::Started {
        started_ms, now_ms, ..
    } = s.sessions.create_session(&session("s1", "1")).await.unwrap()
    else {
        panic!("refused");
    };
    assert!(started_ms > last);
    assert_eq!(started_ms, now_ms, "started in the future");
    // A login in the second of a cut-off starts at the next one (tokens carry whole seconds), and the
    // next logout-all covers it.
    let cutoff = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    let started = s
        .sessions
        .create_session(&session("s2", "1"))
        .await
        .unwrap()
        .started();
    assert_eq!(started, cutoff + 1);
    let again = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    assert!(again >= started);
    assert_eq!(
        s.sessions.session_view("s2", "1", None).await.unwrap(),
        SessionView::Revoked
    );
}

conformance!(
    a_cut_off_covers_tokens_issued_under_a_clock_that_was_ahead,
    cut_off_covers_a_clock_that_was_ahead
);
async fn cut_off_covers_a_clock_that_was_ahead(f: Fixture) {
    let s = &f.store;
    // The store's clock runs a minute ahead (a primary whose clock is wrong), then steps back (a
    // failover to a primary whose clock is right, an NTP step).
    f.advance_ms(60_000);
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    f.advance_ms(1000);
    let RotateOutcome::Rotated(generation, _) = s
        .sessions
        .rotate(&rotation("s1", "s1-r0", "g1", 0))
        .await
        .unwrap()
    else {
        panic!("not rotated");
    };
    f.advance_ms(-61_000);
    let cutoff = s.revocations.revoke_user("1", HOUR_MS).await.unwrap();
    assert!(
        cutoff >= generation.issued_ms,
        "the cut-off {cutoff} does not cover a token issued at {}",
        generation.issued_ms
    );
    assert_eq!(
        s.sessions.session_view("s1", "1", Some("g1-a")).await.unwrap(),
        SessionView::Revoked
    );
    let entries = feed(&f).await;
    match entries.last().map(|e| &e.revoked) {
        Some(shared::revocation::Revoked::User { cutoff_ms, .. }) => assert_eq!(*cutoff_ms, cutoff),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_write_whose_save_fails_is_undone_in_the_embedded_store() {
    let dir = std::env::temp_dir().join(format!("embedded-undo-{}", uuid::Uuid::new_v4().simple()));
    let path = dir.join("state.redb");
    let clock = ManualClock::starting_now();
    let open = |clock: &ManualClock| Arc::new(MemoryStore::open(Arc::new(clock.clone()), &path).unwrap());
    let memory = open(&clock);
    let f = Fixture {
        store: Stores::of(memory.clone()),
        advance: Box::new(|_| {}),
    };
    seed_users(&f).await;
    let s = &f.store;
    s.sessions
        .create_session(&session("s1", "1"))
        .await
        .unwrap()
        .started();
    let entries = feed(&f).await.len();
    // A logout whose save fails answers an error, and leaves nothing behind: the session stands and the
    // feed has no entry for it. Before, the revocation stood in memory and the next save kept it.
    memory.fail_next_saves(1);
    assert!(s.revocations.revoke_session("1", "s1", None).await.is_err());
    assert!(matches!(
        s.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Active { .. }
    ));
    assert_eq!(feed(&f).await.len(), entries);
    // A disable whose save fails: the user stays active, and the next write (saved) does not save it.
    let stored = s.users.user(2).await.unwrap().unwrap();
    memory.fail_next_saves(1);
    let disabled = UserRecord {
        active: false,
        ..stored
    };
    assert!(s
        .users
        .update_user(&disabled, "dos", "dos@example.com", Some(HOUR_MS))
        .await
        .is_err());
    s.sessions
        .create_session(&session("s2", "1"))
        .await
        .unwrap()
        .started();
    assert!(s.users.user(2).await.unwrap().unwrap().active);
    // The retry is saved; after a restart everything is as the answers said.
    s.revocations.revoke_session("1", "s1", None).await.unwrap();
    drop(f);
    drop(memory);
    let reopened = Stores::of(open(&clock));
    assert_eq!(
        reopened.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Revoked
    );
    assert!(matches!(
        reopened.sessions.session_view("s2", "1", None).await.unwrap(),
        SessionView::Active { .. }
    ));
    assert!(reopened.users.user(2).await.unwrap().unwrap().active);
    let _ = std::fs::remove_dir_all(dir);
}

conformance!(the_last_active_admin_stays_whatever_writes_race, last_admin_stays);
async fn last_admin_stays(f: Fixture) {
    let s = &f.store;
    let admin = |id: u64, name: &str| UserRecord {
        rol: "admin".into(),
        ..user(id, name)
    };
    for (id, name) in [(10, "ana"), (11, "beto")] {
        create(&f, &admin(id, name)).await.unwrap();
    }
    // Two admins demote each other at the same instant: one write wins, the other is refused.
    for round in 0..5 {
        let f = &f;
        let demote = |id: u64| async move {
            let stored = f.store.users.user(id).await.unwrap().unwrap();
            let demoted = UserRecord {
                rol: "usuario".into(),
                ..stored
            };
            update(f, &demoted, Some(HOUR_MS)).await
        };
        let (a, b) = tokio::join!(demote(10), demote(11));
        let outcomes = [a, b];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, UserUpdate::Updated { .. }))
                .count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(
            outcomes.contains(&UserUpdate::LastAdmin),
            "round {round}: {outcomes:?}"
        );
        // The one left is the last: disabling it is refused too.
        let left = if matches!(outcomes[0], UserUpdate::Updated { .. }) {
            11
        } else {
            10
        };
        let stored = s.users.user(left).await.unwrap().unwrap();
        assert_eq!(stored.rol, "admin");
        let disabled = UserRecord {
            active: false,
            ..stored
        };
        assert_eq!(update(f, &disabled, Some(HOUR_MS)).await, UserUpdate::LastAdmin);
        // Promote the demoted one again for the next round (a promotion is never refused).
        let other = if left == 10 { 11 } else { 10 };
        let stored = s.users.user(other).await.unwrap().unwrap();
        let promoted = UserRecord {
            rol: "admin".into(),
            ..stored
        };
        assert!(matches!(
            update(f, &promoted, None).await,
            UserUpdate::Updated { .. }
        ));
    }
    // Any number of admins disabling each other at once: at least one stays.
    for (id, name) in [(12, "carla"), (13, "dora"), (14, "eva")] {
        create(&f, &admin(id, name)).await.unwrap();
    }
    let f = &f;
    let disable = |id: u64| async move {
        let stored = f.store.users.user(id).await.unwrap().unwrap();
        let disabled = UserRecord {
            active: false,
            ..stored
        };
        update(f, &disabled, Some(HOUR_MS)).await
    };
    let outcomes = join_all((10..=14).map(disable)).await;
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, UserUpdate::Updated { .. }))
        .count();
    assert_eq!(done, 4, "{outcomes:?}");
    let mut active_admins = 0;
    for id in 10..=14 {
        let u = s.users.user(id).await.unwrap().unwrap();
        active_admins += usize::from(u.rol == "admin" && u.active);
    }
    assert_eq!(active_admins, 1);
}

conformance!(
    signing_keys_are_added_one_per_turn_and_removed,
    signing_key_records
);
async fn signing_key_records(f: Fixture) {
    use auth_service::store::SigningKeyRecord;
    let keys = &f.store.keys;
    // The store's time, which a forced rotation counts from: now, and moving with the store.
    let before = keys.store_now_ms().await.unwrap();
    assert!(before > 1_577_836_800_000, "the store's now, in ms: {before}");
    f.advance_ms(3_600_000);
    let after = keys.store_now_ms().await.unwrap();
    assert!(
        (3_600_000..3_660_000).contains(&(after - before)),
        "{before} -> {after}"
    );
    let key = |kid: &str, alg: &str, activate_ms: i64| SigningKeyRecord {
        kid: kid.into(),
        alg: alg.into(),
        created_ms: 1,
        activate_ms,
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        sealed: "sealed".into(),
    };
    assert!(keys.signing_keys().await.unwrap().is_empty());
    assert!(keys.add_signing_key(&key("a", "EdDSA", 1), None).await.unwrap());
    assert!(
        !keys.add_signing_key(&key("b", "EdDSA", 2), None).await.unwrap(),
        "another key was added first"
    );
    assert!(keys
        .add_signing_key(&key("b", "EdDSA", 2), Some("a"))
        .await
        .unwrap());
    assert!(
        keys.add_signing_key(&key("r", "RS256", 1), None).await.unwrap(),
        "one chain per algorithm"
    );
    // Five replicas rotating at once after "b": one key is added.
    let attempts = ["c1", "c2", "c3", "c4", "c5"].map(|kid| key(kid, "EdDSA", 3));
    let added = join_all(attempts.iter().map(|k| keys.add_signing_key(k, Some("b")))).await;
    assert_eq!(
        added.iter().filter(|r| *r.as_ref().unwrap()).count(),
        1,
        "{added:?}"
    );
    keys.remove_signing_keys(&["a".to_string()]).await.unwrap();
    let mut kids: Vec<String> = keys
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    kids.sort();
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert_eq!(&kids[..1], ["b"]);
    assert!(kids.contains(&"r".to_string()));
    let stored = keys.signing_keys().await.unwrap();
    assert_eq!(
        stored.iter().find(|k| k.kid == "b"),
        Some(&key("b", "EdDSA", 2)),
        "kept as given"
    );
}

// ---------------------------------------------------------------------------------------------------
// The same suite on a Sentinel topology

type Check = fn(Fixture) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

macro_rules! checks {
    ($($check:ident),+ $(,)?) => {
        vec![$((stringify!($check), (|f| Box::pin($check(f))) as Check)),+]
    };
}

/// Every check of the `conformance!` suite, once more, against the primary that three sentinels name
/// (a store built from `RedisTarget::Sentinel`, as `REDIS_SENTINELS` makes it), each under its own
/// prefix. The list is checked against the `conformance!` lines of this file, so none is left out.
fn all_checks() -> Vec<(&'static str, Check)> {
    let all: Vec<(&str, Check)> = checks![
        new_session_is_active,
        rotation_replay_reuse,
        used_successor_ends_grace,
        grace_zero,
        concurrent_rotations,
        changed_credential,
        revoke_session,
        revoke_before_start,
        revoke_user,
        mfa_state,
        mfa_challenge,
        concurrent_steps,
        gate_and_rotate_agree,
        refresh_view,
        every_revocation_in_the_feed,
        cut_off_is_end_of_second,
        users_unique,
        concurrent_creates,
        updates_cas,
        weakening_update,
        session_start_rechecks_the_user,
        cut_off_moves_only_as_needed,
        cut_off_covers_a_clock_that_was_ahead,
        last_admin_stays,
        signing_key_records,
        clients_cas,
        grants,
        passkey_records,
    ];
    let source = include_str!("store.rs");
    let declared = source.matches("\nconformance!(").count();
    assert_eq!(
        all.len(),
        declared,
        "a conformance check is missing from the list"
    );
    all
}

/// Runs every check against a store on `target`, each under its own prefix.
async fn run_all_checks_on(target: &shared::store::RedisTarget, topology: &str) {
    use auth_service::store::redis::RedisStore;
    for (name, check) in all_checks() {
        let store = Arc::new(RedisStore::to(target, &unique_prefix()).unwrap());
        let f = Fixture {
            store: Stores::of(store.clone()),
            advance: Box::new(move |ms| store.advance_time_ms(ms)),
        };
        // A new store connects on its first call, within the store's deadline of a request: on a
        // loaded machine a cluster's first connection (the seeds, the slot map, every primary) can take
        // longer than that, which is not what these checks are about. It must answer within 15 s.
        let mut answered = f.store.ping().await.is_ok();
        for _ in 0..30 {
            if answered {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            answered = f.store.ping().await.is_ok();
        }
        assert!(answered, "{name}: the {topology} answers");
        seed_users(&f).await;
        check(f).await;
    }
}

#[tokio::test]
async fn the_whole_suite_passes_on_a_sentinel_primary() {
    use shared::store::RedisTarget;
    use test_support::{free_port, RedisProcess, SentinelProcess};

    let primary = RedisProcess::start(free_port().unwrap()).unwrap();
    let primary_port = primary.port.to_string();
    let replica =
        RedisProcess::start_with(free_port().unwrap(), &["--replicaof", "127.0.0.1", &primary_port]).unwrap();
    primary
        .wait_for_replicas(1, std::time::Duration::from_secs(20))
        .unwrap();
    let sentinels: Vec<SentinelProcess> = (0..3)
        .map(|_| SentinelProcess::start(free_port().unwrap(), "conformance", primary.port).unwrap())
        .collect();
    let target = RedisTarget::Sentinel {
        sentinels: sentinels
            .iter()
            .map(|s| ("127.0.0.1".to_string(), s.port))
            .collect(),
        master: "conformance".into(),
    };
    run_all_checks_on(&target, "sentinels' primary").await;
    // With its replica gone, a write that must survive a failover is not acknowledged (503): the
    // primary alone has it, and a failover now would lose it. Before, `WAIT`'s answer was ignored and
    // the write acknowledged all the same.
    drop(replica);
    let store = RedisStore::to(&target, &unique_prefix()).unwrap();
    let err = auth_service::store::UserStore::create_user(&store, &user(1, "uno"), "uno", "uno@example.com")
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("no replica acknowledged")),
        "{err:?}"
    );
}

/// Every check of the `conformance!` suite, once more, on a real Redis Cluster of 3 primaries and 3
/// replicas (a store built from `RedisTarget::Cluster`, as `REDIS_CLUSTER_NODES` makes it): every
/// script's keys in one slot, and what spans two slots split as the store's docs say.
#[tokio::test]
async fn the_whole_suite_passes_on_a_redis_cluster() {
    let cluster = test_support::ClusterProcess::start().unwrap();
    let target = shared::store::RedisTarget::Cluster {
        nodes: cluster.seeds().split(',').map(str::to_string).collect(),
    };
    run_all_checks_on(&target, "cluster").await;
    owed_entries_reach_the_feed_whatever_fails(&target).await;
}

/// On a cluster a revocation's feed entry is a second call: make that call fail after each kind of
/// revocation (a logout, a logout-all, an update that ends sessions) and show the entry still arrives,
/// through the sweeper or the user's next request. Before, the retry was refused (the session already
/// revoked, nothing left to change) and the entry was lost for good.
async fn owed_entries_reach_the_feed_whatever_fails(target: &shared::store::RedisTarget) {
    let store = Arc::new(RedisStore::to(target, &unique_prefix()).unwrap());
    let f = Fixture {
        store: Stores::of(store.clone()),
        advance: Box::new(|_| {}),
    };
    seed_users(&f).await;
    let s = &f.store;
    for sid in ["s1", "s2", "s3"] {
        s.sessions
            .create_session(&session(sid, "1"))
            .await
            .unwrap()
            .started();
    }
    // A logout whose append fails: 503 for the client, the revocation stands, the entry is owed.
    store.fail_next_feed_appends(1);
    assert!(s
        .revocations
        .revoke_session("1", "s1", Some(("s1-a0", HOUR_MS)))
        .await
        .is_err());
    assert!(!kinds(&feed(&f).await).contains(&"sid:s1".to_string()));
    // The client's retry finds nothing left to revoke; the sweeper appends what is owed.
    s.revocations.revoke_session("1", "s1", None).await.unwrap();
    assert!(!kinds(&feed(&f).await).contains(&"sid:s1".to_string()));
    assert!(s.feed.sweep_owed(0).await.unwrap() >= 1);
    let appended = kinds(&feed(&f).await);
    assert!(appended.contains(&"sid:s1".to_string()), "{appended:?}");
    assert!(appended.contains(&"jti:s1-a0".to_string()), "{appended:?}");
    // A logout-all whose append fails: the next request of the user (any session's check) appends it.
    store.fail_next_feed_appends(1);
    assert!(s.revocations.revoke_user("2", HOUR_MS).await.is_err());
    assert!(!kinds(&feed(&f).await).contains(&"sub:2".to_string()));
    s.sessions.session_view("nope", "2", None).await.unwrap();
    assert!(kinds(&feed(&f).await).contains(&"sub:2".to_string()));
    // An admin's disable whose append fails: the sweeper appends the cut-off.
    let stored = s.users.user(7).await.unwrap().unwrap();
    store.fail_next_feed_appends(1);
    let disabled = UserRecord {
        active: false,
        ..stored
    };
    assert!(f
        .store
        .users
        .update_user(&disabled, "siete", "siete@example.com", Some(HOUR_MS))
        .await
        .is_err());
    assert!(!kinds(&feed(&f).await).contains(&"sub:7".to_string()));
    s.feed.sweep_owed(0).await.unwrap();
    assert!(kinds(&feed(&f).await).contains(&"sub:7".to_string()));
    // Reuse detected during a refresh, its append failing: the session's next attempt appends it.
    s.sessions
        .rotate(&rotation("s2", "s2-r0", "g1", 0))
        .await
        .unwrap();
    store.fail_next_feed_appends(1);
    assert!(s
        .sessions
        .rotate(&rotation("s2", "s2-r0", "g2", 0))
        .await
        .is_err());
    assert_eq!(
        s.sessions
            .rotate(&rotation("s2", "s2-r0", "g3", 0))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
    assert!(kinds(&feed(&f).await).contains(&"sid:s2".to_string()));
    assert_eq!(
        s.sessions.session_view("s1", "1", None).await.unwrap(),
        SessionView::Revoked
    );
    // A rotation that committed is delivered even when the per-IP gate, sent beside it to another node,
    // fails: withheld, the client's retry would be reuse (with the grace at 0) and end the session.
    s.sessions
        .create_session(&session("s4", "1"))
        .await
        .unwrap()
        .started();
    store.fail_next_gate_calls(1);
    let gated = Rotation {
        gate: Some(Counter {
            key: "ip:192.0.2.1".into(),
            limit: 100,
            window_ms: 60_000,
        }),
        ..rotation("s4", "s4-r0", "g4", 0)
    };
    assert!(matches!(
        s.sessions.rotate(&gated).await.unwrap(),
        RotateOutcome::Rotated(..)
    ));
    assert!(matches!(
        s.sessions.rotate(&rotation("s4", "g4-r", "g5", 0)).await.unwrap(),
        RotateOutcome::Rotated(..)
    ));
    // Once appended, nothing is owed: a sweep finds nothing more to append.
    let before = feed(&f).await.len();
    s.feed.sweep_owed(0).await.unwrap();
    assert_eq!(feed(&f).await.len(), before);
}

/// The name a key had in the layout before hash tags (`P auth:<kind>:<id>`).
fn old_name(key: &str) -> String {
    let (base, rest) = key.split_once("auth:").unwrap();
    if let Some(kind) = rest.strip_prefix("{users}:") {
        return format!("{base}auth:users:{kind}");
    }
    if let Some(tagged) = rest.strip_prefix("{u:") {
        let (uid, kind) = tagged.split_once("}:").unwrap();
        return match kind.split_once(':') {
            // sess:<sid>, revoked:<jti>: the id was the session's or the token's.
            Some((kind, id)) => format!("{base}auth:{kind}:{id}"),
            None => format!("{base}auth:{kind}:{uid}"),
        };
    }
    key.to_string()
}

/// Keys written in the layout before hash tags are renamed on the first use of the store: a user,
/// found by username; a live session and a revoked one, as they were; MFA state and the cut-off; the
/// old revoked-token mark dropped (its session is revoked, which refuses the token all the same).
#[tokio::test]
async fn the_layout_before_hash_tags_is_renamed_on_first_use() {
    use auth_service::store::{MfaStore, UserStore};
    let prefix = unique_prefix();
    let earlier = RedisStore::new(&redis_url(), &prefix).unwrap();
    let bob = earlier
        .create_user(&user(0, "bob"), "bob", "bob@example.com")
        .await
        .unwrap()
        .unwrap();
    let uid = bob.id.to_string();
    for sid in ["live", "gone"] {
        earlier
            .create_session(&session(sid, &uid))
            .await
            .unwrap()
            .started();
    }
    earlier
        .revoke_session(&uid, "gone", Some(("gone-a0", HOUR_MS)))
        .await
        .unwrap();
    earlier.mfa_set_pending(&uid, "sealed", HOUR_MS).await.unwrap();
    let cutoff = earlier.revoke_user("999", HOUR_MS).await.unwrap();

    // Back to the names an earlier version wrote, marker gone.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let all: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let keys = Keys::new(&prefix);
    for key in &all {
        // The layout marker, the issue mark and the set of admins, which versions that wrote the old
        // layout never had.
        if *key == keys.layout() || key.ends_with(":issued") || key.contains("{users}:admins") {
            let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
        } else if old_name(key) != *key {
            let _: () = redis::cmd("RENAME")
                .arg(key)
                .arg(old_name(key))
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
    let old_session_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}auth:sess:live"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        old_session_ttl > 0,
        "the old layout holds the session, with its TTL"
    );

    let store = RedisStore::new(&redis_url(), &prefix).unwrap();
    let found = store
        .user_by_username("bob")
        .await
        .unwrap()
        .expect("bob carried over");
    assert_eq!(found, bob);
    assert!(matches!(
        store.session_view("live", &uid, Some("live-a0")).await.unwrap(),
        SessionView::Active { .. }
    ));
    assert_eq!(
        store.session_view("gone", &uid, None).await.unwrap(),
        SessionView::Revoked
    );
    assert_eq!(
        store.mfa_record(&uid).await.unwrap().pending.as_deref(),
        Some("sealed")
    );
    // The cut-off carried over: a session of user 999 started before it is still refused.
    let v: Option<String> = redis::cmd("GET")
        .arg(keys.cutoff("999"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, Some(cutoff.to_string()));

    let now: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let leftover: Vec<&String> = now
        .iter()
        .filter(|k| {
            old_name(k) == **k && !k.contains(":rl:") && !k.ends_with("revocations") && **k != keys.layout()
        })
        .collect();
    assert!(leftover.is_empty(), "nothing under the old names: {leftover:?}");
    assert!(
        !now.iter().any(|k| k.contains(":revoked:")),
        "the old revoked-token mark dropped: {now:?}"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(keys.session(&uid, "live"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= old_session_ttl,
        "the session keeps its TTL: {ttl}"
    );
    assert!(now.contains(&keys.layout()));
}

// ---------------------------------------------------------------------------------------------------
// OAuth 2.0 clients

fn client_record(id: &str) -> auth_service::store::ClientRecord {
    auth_service::store::ClientRecord {
        client_id: id.into(),
        client_name: "Billing".into(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["client_credentials".into()],
        scope: "solicitud:read".into(),
        token_endpoint_auth_method: "client_secret_basic".into(),
        id_token_signed_response_alg: "RS256".into(),
        backchannel_logout_uri: String::new(),
        first_party: false,
        active: true,
        secrets: vec![auth_service::store::StoredSecret {
            salt: "00".repeat(16),
            hash: "11".repeat(32),
            expires_ms: 0,
        }],
        tokens_after_ms: 0,
        version: 0,
        config: String::new(),
    }
}

conformance!(clients_are_written_over_the_version_read, clients_cas);
async fn clients_cas(f: Fixture) {
    let clients = &f.store.clients;
    assert_eq!(clients.client("billing").await.unwrap(), None);
    let created = clients
        .put_client(&client_record("billing"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(clients.client("billing").await.unwrap(), Some(created.clone()));
    // A second create of the same id finds it taken.
    assert_eq!(clients.put_client(&client_record("billing")).await.unwrap(), None);

    let mut changed = created.clone();
    changed.active = false;
    let written = clients.put_client(&changed).await.unwrap().unwrap();
    assert_eq!((written.version, written.active), (2, false));
    // A write over the version it read before that change is stale: nothing written.
    let mut stale = created.clone();
    stale.scope = "solicitud:admin".into();
    assert_eq!(clients.put_client(&stale).await.unwrap(), None);
    assert_eq!(clients.client("billing").await.unwrap(), Some(written.clone()));

    // Concurrent writers over one version: exactly one wins.
    let attempts = (0..10).map(|i| {
        let mut r = written.clone();
        r.client_name = format!("writer {i}");
        let clients = clients.clone();
        async move { clients.put_client(&r).await.unwrap() }
    });
    let won = join_all(attempts).await.into_iter().flatten().count();
    assert_eq!(won, 1);

    clients
        .put_client(&client_record("alpha"))
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<String> = clients
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["alpha", "billing"]);
    // The version fields of the Redis hash are no clients.
    assert_eq!(clients.client("~v:billing").await.unwrap(), None);
}

conformance!(a_grant_is_kept_redeemed_once_and_dropped, grants);
async fn grants(f: Fixture) {
    use auth_service::store::{GrantKind, Redeemed};
    let g = &f.store.grants;
    assert_eq!(g.grant(GrantKind::Request, "r").await.unwrap(), None);
    g.put_grant(GrantKind::Request, "r", "{\"a\":1}", 60_000)
        .await
        .unwrap();
    assert_eq!(
        g.grant(GrantKind::Request, "r").await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    // The same id under another kind is another record.
    assert_eq!(g.grant(GrantKind::Code, "r").await.unwrap(), None);

    // A code: one redemption, then replays that still show the value; two at once get one each.
    assert_eq!(
        g.redeem_grant(GrantKind::Code, "c").await.unwrap(),
        Redeemed::Missing
    );
    g.put_grant(GrantKind::Code, "c", "v", 60_000).await.unwrap();
    let both = join_all([
        g.redeem_grant(GrantKind::Code, "c"),
        g.redeem_grant(GrantKind::Code, "c"),
    ])
    .await;
    let both: Vec<Redeemed> = both.into_iter().map(Result::unwrap).collect();
    assert!(both.contains(&Redeemed::Fresh("v".into())), "{both:?}");
    assert!(both.contains(&Redeemed::Replayed("v".into())), "{both:?}");
    assert_eq!(
        g.redeem_grant(GrantKind::Code, "c").await.unwrap(),
        Redeemed::Replayed("v".into())
    );

    // Sets: members accumulate, dropping the grant drops its set.
    g.add_to_set(GrantKind::Descendants, "b", "s1", 60_000)
        .await
        .unwrap();
    g.add_to_set(GrantKind::Descendants, "b", "s2", 60_000)
        .await
        .unwrap();
    g.add_to_set(GrantKind::Descendants, "b", "s2", 60_000)
        .await
        .unwrap();
    let mut members = g.set_members(GrantKind::Descendants, "b").await.unwrap();
    members.sort();
    assert_eq!(members, ["s1", "s2"]);
    g.drop_grant(GrantKind::Descendants, "b").await.unwrap();
    assert!(g
        .set_members(GrantKind::Descendants, "b")
        .await
        .unwrap()
        .is_empty());
    g.drop_grant(GrantKind::Request, "r").await.unwrap();
    assert_eq!(g.grant(GrantKind::Request, "r").await.unwrap(), None);
}

/// Lifetimes are the store's own (Redis TTLs): checked on the embedded store's clock here, and on
/// Redis by the TTL each write sets.
#[tokio::test]
async fn grants_expire_with_their_lifetime() {
    use auth_service::store::{GrantKind, GrantStore, Redeemed};
    let f = memory();
    let g = &f.store.grants;
    g.put_grant(GrantKind::Code, "c", "v", 1_000).await.unwrap();
    g.add_to_set(GrantKind::Descendants, "b", "s", 1_000)
        .await
        .unwrap();
    f.advance_ms(1_001);
    assert_eq!(
        g.redeem_grant(GrantKind::Code, "c").await.unwrap(),
        Redeemed::Missing
    );
    assert!(g
        .set_members(GrantKind::Descendants, "b")
        .await
        .unwrap()
        .is_empty());

    let prefix = unique_prefix();
    let redis = RedisStore::new(&redis_url(), &prefix).unwrap();
    redis.put_grant(GrantKind::Code, "c", "v", 5_000).await.unwrap();
    redis
        .add_to_set(GrantKind::Descendants, "b", "s", 5_000)
        .await
        .unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = Keys::new(&prefix);
    for key in [
        keys.grant(GrantKind::Code, "c"),
        keys.grant_set(GrantKind::Descendants, "b"),
    ] {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!((1..=5_000).contains(&ttl), "{key}: {ttl}");
    }
}

conformance!(
    passkeys_are_unique_per_credential_and_swapped_by_compare_and_set,
    passkey_records
);
async fn passkey_records(f: Fixture) {
    use auth_service::store::{PasskeyAdded, PasskeyRecord, PasskeyRemoved};
    let p = &f.store.passkeys;
    let record = |id: &str, uid: &str| PasskeyRecord {
        id: id.into(),
        uid: uid.into(),
        name: format!("key {id}"),
        created_ms: 1,
        last_used_ms: None,
        user_handle: "aGFuZGxl".into(),
        transports: 0,
        public_key: "cGs".into(),
        state: "c3RhdGUx".into(),
    };
    assert_eq!(p.passkey("k1").await.unwrap(), None);
    assert!(p.passkeys("1").await.unwrap().is_empty());
    assert_eq!(
        p.add_passkey(&record("k1", "1"), 2).await.unwrap(),
        PasskeyAdded::Added
    );
    assert_eq!(
        p.passkey("k1").await.unwrap(),
        Some(record("k1", "1")),
        "kept as given"
    );
    // A credential id is registered once, to one user: not again, not to another.
    assert_eq!(
        p.add_passkey(&record("k1", "1"), 2).await.unwrap(),
        PasskeyAdded::Taken
    );
    assert_eq!(
        p.add_passkey(&record("k1", "2"), 2).await.unwrap(),
        PasskeyAdded::Taken
    );
    assert_eq!(p.passkey("k1").await.unwrap().unwrap().uid, "1");
    assert!(p.passkeys("2").await.unwrap().is_empty());
    // At most `max` per user; a refused one leaves no trace (its id stays free).
    assert_eq!(
        p.add_passkey(&record("k2", "1"), 2).await.unwrap(),
        PasskeyAdded::Added
    );
    assert_eq!(
        p.add_passkey(&record("k3", "1"), 2).await.unwrap(),
        PasskeyAdded::Full
    );
    assert_eq!(p.passkey("k3").await.unwrap(), None);
    assert_eq!(
        p.add_passkey(&record("k3", "2"), 2).await.unwrap(),
        PasskeyAdded::Added
    );
    let mut ids: Vec<String> = p.passkeys("1").await.unwrap().into_iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(ids, ["k1", "k2"]);

    // Two uses read the same counter: one swap wins.
    let before = record("k1", "1");
    let after = |state: &str| PasskeyRecord {
        state: state.into(),
        last_used_ms: Some(2),
        ..before.clone()
    };
    let (one, two) = (after("c3RhdGUy"), after("c3RhdGUz"));
    let both = join_all([p.update_passkey(&before, &one), p.update_passkey(&before, &two)]).await;
    let won: Vec<bool> = both.into_iter().map(Result::unwrap).collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let now = p.passkey("k1").await.unwrap().unwrap();
    assert!(now == one || now == two, "{now:?}");
    // A stale record does not overwrite, and neither id nor user may change.
    assert!(!p.update_passkey(&before, &after("c3RhdGU0")).await.unwrap());
    assert!(p
        .update_passkey(
            &now,
            &PasskeyRecord {
                uid: "2".into(),
                ..now.clone()
            }
        )
        .await
        .is_err());

    // Removed by its user only; then its id is free again.
    use PasskeyRemoved::{Last, Removed, Unknown};
    assert_eq!(p.remove_passkey("2", "k1", false).await.unwrap(), Unknown);
    assert_eq!(p.remove_passkey("1", "k1", false).await.unwrap(), Removed);
    assert_eq!(p.remove_passkey("1", "k1", false).await.unwrap(), Unknown);
    assert_eq!(p.passkey("k1").await.unwrap(), None);
    // Keeping the last: of user 1's two (k2, k4), two removals at once remove exactly one.
    assert_eq!(
        p.add_passkey(&record("k4", "1"), 2).await.unwrap(),
        PasskeyAdded::Added
    );
    let both = join_all([
        p.remove_passkey("1", "k2", true),
        p.remove_passkey("1", "k4", true),
    ])
    .await;
    let mut outcomes: Vec<PasskeyRemoved> = both.into_iter().map(Result::unwrap).collect();
    outcomes.sort_by_key(|o| *o == Last);
    assert_eq!(outcomes, [Removed, Last]);
    let left = p.passkeys("1").await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(p.remove_passkey("1", &left[0].id, true).await.unwrap(), Last);
    assert_eq!(p.remove_passkey("1", "k9", true).await.unwrap(), Unknown);
    assert_eq!(p.remove_passkey("1", &left[0].id, false).await.unwrap(), Removed);
    assert!(p.passkeys("1").await.unwrap().is_empty());
    assert_eq!(
        p.add_passkey(&record("k1", "2"), 2).await.unwrap(),
        PasskeyAdded::Added
    );
    assert_eq!(p.passkey("k1").await.unwrap().unwrap().uid, "2");
}

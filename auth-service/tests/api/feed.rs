//! The revocation feed from a backend's side: docs/integrating.md's Python consumer, run unchanged against
//! revocations this store writes; and a soak that shows a follower's memory stays flat.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_service::store::redis::RedisStore;
use auth_service::store::{NewSession, RevocationStore, SessionStart, SessionStore, UserRecord, UserStore};
use serde_json::json;
use shared::revocation::feed::{FeedSettings, RevocationFeed};
use shared::SystemClock;

use crate::helpers::{redis_url, unique_prefix};

/// The target directory this test binary was built into (`…/target/debug/deps/api-…` → `…/target`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// A Python with the `redis` package, in a venv under the target directory; `None` when it cannot be
/// made here (no python3-venv, no network), which fails the test under `CI=true`.
fn python_with_redis() -> Option<PathBuf> {
    let venv = target_dir().join("python-feed-venv");
    let python = venv.join("bin/python");
    let has_redis = |python: &Path| {
        Command::new(python)
            .args(["-c", "import redis"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_redis(&python) {
        return Some(python);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "redis"])
            .status()
            .is_ok_and(|s| s.success());
    if made && has_redis(&python) {
        return Some(python);
    }
    let why = format!(
        "cannot make a Python with the `redis` package in {} (python3 -m venv, then pip install redis)",
        venv.display()
    );
    let on_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(!on_ci, "{why}");
    // Straight to stderr, so the line shows in a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED the README's Python feed consumer: {why}"
    );
    None
}

/// docs/integrating.md's Python block under "Following the feed from Python", exactly as written.
fn readme_consumer() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/integrating.md"))
            .unwrap();
    let section = readme
        .split("**Following the feed from Python**")
        .nth(1)
        .expect("docs/integrating.md has lost its Python consumer");
    let block = section.split("```python\n").nth(1).expect("no python block");
    block.split("\n```").next().unwrap().to_string() + "\n"
}

/// Reads claims (one JSON object a line) and answers revoked / valid / stale, once the feed is current.
const DRIVER: &str = r#"
import json, sys, time
sys.path.insert(0, sys.argv[3])
from feed import RevocationFeed, Stale
feed = RevocationFeed(sys.argv[1], sys.argv[2])
deadline = time.monotonic() + 10
while feed.current_at is None and time.monotonic() < deadline:
    time.sleep(0.01)
print("ready" if feed.current_at is not None else "never current", flush=True)
for line in sys.stdin:
    try:
        print("revoked" if feed.is_revoked(json.loads(line)) else "valid", flush=True)
    except Stale:
        print("stale", flush=True)
"#;

fn claims(sub: &str, sid: &str, jti: &str, iat: i64) -> String {
    json!({"sub": sub, "sid": sid, "jti": jti, "iat": iat}).to_string() + "\n"
}

#[tokio::test]
async fn the_readmes_python_consumer_refuses_what_the_feed_revokes() {
    let Some(python) = python_with_redis() else {
        return;
    };
    let prefix = unique_prefix();
    let store = RedisStore::new(&redis_url(), &prefix).unwrap();
    let ana = store
        .create_user(
            &UserRecord {
                id: 1,
                username: "ana".into(),
                email: "ana@example.com".into(),
                rol: "usuario".into(),
                password_hash: "h".into(),
                virtual_operator: "saphety".into(),
                active: true,
                version: 0,
                config: String::new(),
                reset: String::new(),
            },
            "ana",
            "ana@example.com",
        )
        .await
        .unwrap()
        .unwrap();
    for sid in ["s1", "s2", "s3"] {
        let started = store
            .create_session(&NewSession {
                sid: sid.into(),
                uid: "1".into(),
                fingerprint: ana.fingerprint(),
                refresh_jti: format!("{sid}-r"),
                access_jti: format!("{sid}-a"),
                ttl_ms: 3_600_000,
                cutoff_seen: None,
            })
            .await
            .unwrap();
        assert!(matches!(started, SessionStart::Started { .. }), "{started:?}");
    }
    // Before the consumer starts: read at its boot.
    store
        .revoke_session("1", "s1", Some(("j1", 60_000)))
        .await
        .unwrap();
    let cutoff = store.revoke_user("7", 3_600_000).await.unwrap();

    let dir = std::env::temp_dir().join(format!("feed-consumer-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("feed.py"), readme_consumer()).unwrap();
    std::fs::write(dir.join("driver.py"), DRIVER).unwrap();
    let mut child = Command::new(&python)
        .arg(dir.join("driver.py"))
        .arg(redis_url())
        .arg(&prefix)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |line: String| {
        stdin.write_all(line.as_bytes()).unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    };
    assert_eq!(ask(String::new()).as_str(), "ready");
    let iat = cutoff.div_euclid(1000);
    assert_eq!(ask(claims("1", "s1", "x", iat)), "revoked", "its session");
    assert_eq!(ask(claims("1", "s9", "j1", iat)), "revoked", "its jti");
    assert_eq!(
        ask(claims("7", "s9", "x", iat)),
        "revoked",
        "issued in the cut-off's second"
    );
    assert_eq!(
        ask(claims("7", "s9", "x", iat + 1)),
        "valid",
        "issued after the cut-off"
    );
    assert_eq!(ask(claims("1", "s2", "x", iat)), "valid");

    // Followed: a revocation made now is refused within milliseconds.
    store.revoke_session("1", "s2", None).await.unwrap();
    let start = Instant::now();
    while ask(claims("1", "s2", "x", iat)) != "revoked" {
        assert!(start.elapsed() < Duration::from_secs(2), "not refused within 2 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stdin);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// This process's resident memory, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// 100,000 revocations through the store's scripts, followed by a feed in this process, each living
/// 1 s: the stream is trimmed and the deny set swept as they go, so both stay at a few seconds' worth
/// and memory flat. Prints what it sees: `cargo test -p auth-service --test api soak -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a soak: about 15 s"]
async fn a_soak_of_100000_revocations_keeps_the_stream_the_deny_set_and_memory_flat() {
    const TOTAL: usize = 100_000;
    const LIFE_MS: i64 = 1_000;
    let prefix = unique_prefix();
    let store = Arc::new(
        RedisStore::new(&redis_url(), &prefix)
            .unwrap()
            .with_feed_life_ms(LIFE_MS),
    );
    let feed = RevocationFeed::new(
        &redis_url(),
        &prefix,
        FeedSettings::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    feed.spawn();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = shared::revocation::feed_key(&prefix);
    let start = Instant::now();
    let mut peak_set = 0usize;
    let mut samples = Vec::new();
    for batch in 0..(TOTAL / 5_000) {
        let writes = (0..5_000).map(|i| {
            let store = store.clone();
            async move {
                let jti = format!("j{batch}-{i}");
                store
                    .revoke_session("1", "none", Some((&jti, LIFE_MS)))
                    .await
                    .unwrap();
            }
        });
        futures::future::join_all(writes).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let len: u64 = redis::cmd("XLEN").arg(&key).query_async(&mut conn).await.unwrap();
        peak_set = peak_set.max(feed.deny_set_len());
        let line = format!(
            "after {:>6} revocations ({:>5.1} s): stream {:>6} entries, deny set {:>6}, RSS {:>7} KiB",
            (batch + 1) * 5_000,
            start.elapsed().as_secs_f64(),
            len,
            feed.deny_set_len(),
            rss_kib()
        );
        println!("{line}");
        samples.push(rss_kib());
    }
    let rate = TOTAL as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0} revocations/s through the scripts");
    tokio::time::sleep(Duration::from_millis(LIFE_MS as u64 + 2_000)).await;
    let settled = feed.deny_set_len();
    println!(
        "{} s after the last: deny set {settled}, RSS {} KiB; peak deny set {peak_set}",
        (LIFE_MS + 2_000) / 1000,
        rss_kib()
    );
    assert!(feed.is_current());
    assert_eq!(settled, 0, "every entry expired and was swept");
    assert!(
        (peak_set as f64) < rate * (LIFE_MS as f64 / 1000.0 + 2.0) + 5_000.0,
        "the deny set held more than the last few seconds' revocations: {peak_set}"
    );
    // Flat: the second half of the run does not grow past the first half's peak by more than 25%.
    let (first, second) = samples.split_at(samples.len() / 2);
    let (first_peak, second_peak) = (*first.iter().max().unwrap(), *second.iter().max().unwrap());
    assert!(
        second_peak <= first_peak + first_peak / 4,
        "RSS grew: {first_peak} -> {second_peak} KiB"
    );
}

//! Redis Sentinel: a primary, a replica and three sentinels of the test's own; the primary is killed
//! while the service serves a refresh chain, and the service follows the new primary without a
//! restart: nothing but 503 during the switch (and until a replica attaches to the promoted one: writes
//! wait for a replica), and the chain, the session and the user survive.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::{free_port, RedisProcess, SentinelProcess};

use crate::helpers::{codigo, read, tokens, ADMIN, ADMIN_PASSWORD, MFA_KEY, SECRET};
use crate::process::{start_auth, ServiceProcess};

const MASTER: &str = "authmaster";

/// `redis-cli -p <port> <args>`, its output.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The port the sentinels name as the primary now.
fn primary_port(sentinel: u16) -> Option<u16> {
    let out = redis_cli(sentinel, &["SENTINEL", "get-master-addr-by-name", MASTER]);
    out.lines().nth(1).and_then(|p| p.trim().parse().ok())
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    read(client.post(url).json(&body).send().await.unwrap()).await
}

/// `n` refreshes in a row, each 200; the last refresh token.
async fn refresh_chain(
    client: &reqwest::Client,
    auth: &ServiceProcess,
    mut refresh: String,
    n: usize,
) -> String {
    for _ in 0..n {
        let (status, body) = post(
            client,
            auth.url("/auth/refresh"),
            json!({"refreshToken": refresh}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        refresh = tokens(&body).1;
    }
    refresh
}

#[tokio::test]
async fn the_service_follows_a_sentinel_failover_without_a_restart() {
    let primary = RedisProcess::start(free_port().unwrap()).unwrap();
    let primary_port_before = primary.port;
    let replica_of = primary.port.to_string();
    let replica =
        RedisProcess::start_with(free_port().unwrap(), &["--replicaof", "127.0.0.1", &replica_of]).unwrap();
    let sentinels: Vec<SentinelProcess> = (0..3)
        .map(|_| SentinelProcess::start(free_port().unwrap(), MASTER, primary.port).unwrap())
        .collect();
    let sentinel_list = sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect::<Vec<_>>()
        .join(",");
    // The sentinels see the replica through the primary within a second or so.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !redis_cli(sentinels[0].port, &["SENTINEL", "replicas", MASTER]).contains(&replica.port.to_string())
    {
        assert!(Instant::now() < deadline, "the sentinels never saw the replica");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Writes wait for a replica's acknowledgement: the replica must be in sync first.
    primary.wait_for_replicas(1, Duration::from_secs(20)).unwrap();

    let mut auth = start_auth(&[
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ("REDIS_SENTINELS", sentinel_list),
        ("REDIS_SENTINEL_MASTER", MASTER.to_string()),
        ("JWT_REFRESH_RETRY_GRACE_SECONDS", "10".to_string()),
    ]);
    let client = reqwest::Client::new();
    let login = json!({"username": ADMIN, "password": ADMIN_PASSWORD});
    let (status, body) = post(&client, auth.url("/auth/login"), login.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (_, mut refresh) = tokens(&body);
    refresh = refresh_chain(&client, &auth, refresh, 3).await;
    // Everything written so far is on the replica before the primary goes.
    assert!(redis_cli(primary.port, &["WAIT", "1", "5000"]).trim() == "1");

    drop(primary);
    let killed = Instant::now();
    // Once the replica is promoted it has no replica of its own, and a write none acknowledges is
    // refused (503: a failover now would lose it). A new replica attaches, as an operator's would.
    let deadline = Instant::now() + Duration::from_secs(45);
    while primary_port(sentinels[0].port) != Some(replica.port) {
        assert!(Instant::now() < deadline, "no new primary after 45 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new_replica_of = replica.port.to_string();
    let _new_replica = RedisProcess::start_with(
        free_port().unwrap(),
        &["--replicaof", "127.0.0.1", &new_replica_of],
    )
    .unwrap();
    let mut outcomes = Vec::new();
    let access;
    loop {
        assert!(
            killed.elapsed() < Duration::from_secs(45),
            "no new primary after 45 s: {outcomes:?}"
        );
        let (status, body) = post(
            &client,
            auth.url("/auth/refresh"),
            json!({"refreshToken": refresh}),
        )
        .await;
        outcomes.push(status);
        match status {
            200 => {
                (access, refresh) = tokens(&body);
                break;
            }
            503 => assert_eq!(codigo(&body), "SERVICE_UNAVAILABLE", "{body}"),
            other => panic!("only 503 during the switch, got {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let new_primary = primary_port(sentinels[0].port);
    assert_eq!(new_primary, Some(replica.port), "the replica was promoted");
    assert_ne!(new_primary, Some(primary_port_before));
    assert!(auth.is_running(), "the same process, never restarted");

    // The chain goes on, no reuse detected, and everything else works on the new primary.
    refresh_chain(&client, &auth, refresh, 3).await;
    let (status, body) = read(
        client
            .get(auth.url("/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(post(&client, auth.url("/auth/login"), login).await.0, 200);
    let metrics = client
        .get(auth.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("auth_refresh_reuse_detected_total") && !l.ends_with(" 0")),
        "no reuse falsely detected: {metrics}"
    );
}

#[test]
fn topology_variables_are_validated_at_start() {
    let bin = env!("CARGO_BIN_EXE_auth-service");
    let run = |vars: &[(&str, &str)]| {
        let out = std::process::Command::new(bin)
            .env_clear()
            .env("JWT_SECRET", SECRET)
            .env("API_PASSWORD", ADMIN_PASSWORD)
            .env("MFA_ENCRYPTION_KEY", MFA_KEY)
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (vars, needle) in [
        (
            &[
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("REDIS_SENTINELS", "127.0.0.1:26379"),
                ("REDIS_SENTINEL_MASTER", "m"),
            ][..],
            "at most one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS",
        ),
        (&[("REDIS_SENTINELS", "127.0.0.1:26379")], "REDIS_SENTINEL_MASTER"),
        (&[("REDIS_SENTINEL_MASTER", "m")], "without REDIS_SENTINELS"),
        (
            &[
                ("REDIS_SENTINELS", "127.0.0.1,host:0"),
                ("REDIS_SENTINEL_MASTER", "m"),
            ],
            "is not host:port",
        ),
        (
            &[("REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000,127.0.0.1:7001")],
            "not redis://host:port",
        ),
        (&[("REDIS_CLUSTER_NODES", " , ")], "names no node"),
        (
            &[
                ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000"),
                ("REDIS_KEY_PREFIX", "{app}:"),
            ],
            "must not hold `{` or `}`",
        ),
        (
            &[
                ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:7000"),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
            ],
            "at most one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS",
        ),
    ] {
        let (code, stderr) = run(vars);
        assert_eq!(code, Some(2), "{vars:?}: {stderr}");
        assert!(stderr.contains(needle), "{vars:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

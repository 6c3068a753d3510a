//! What a request costs Redis: calls per refresh and round trips, and the topologies run
//! (`--topologies`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::measure::{load, load_on, redis_info};
use crate::services::{common_vars, prefix_of, start, Service, Settings, PASSWORD};
use crate::steps::{login, post_step, refresh_in_turn, refresh_workers};
use serde_json::json;

/// Total calls of every command, from `INFO commandstats`.
pub(crate) async fn redis_calls(url: &str) -> u64 {
    redis_info(url, "commandstats")
        .await
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// Round trips per refresh, counted exactly: `MONITOR` shows every command a client sends (and, tagged
/// `lua`, the ones a script runs inside Redis); lines naming this run's key prefix and not from a script
/// are the service's round trips.
pub(crate) async fn round_trips_per_refresh(redis_url: &str, auth: &Service, prefix: &str, n: usize) -> f64 {
    let host_port = redis_url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "6379"));
    let mut monitor = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli (from the redis-server package) counts round trips");
    let stdout = monitor.stdout.take().unwrap();
    let prefix_owned = prefix.to_string();
    let counter = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains(&prefix_owned) && !l.contains(" lua]"))
            .count()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let token = login(&client, auth).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(100)).await;
    refresh_in_turn(&client, auth, token, n).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = monitor.kill();
    let _ = monitor.wait();
    let lines = counter.join().unwrap_or(0);
    // The login before the refreshes makes 4 round trips: attempt gate, MFA check, reset, session.
    (lines as f64 - 4.0) / n as f64
}

/// Calls of each command on the Redis at `port` (127.0.0.1), from `INFO commandstats`; commands run
/// inside scripts are counted too.
pub(crate) async fn command_calls(port: u16) -> std::collections::HashMap<String, u64> {
    let info = redis_info(&format!("redis://127.0.0.1:{port}"), "commandstats").await;
    let mut calls = std::collections::HashMap::new();
    for l in info.lines() {
        let Some((name, rest)) = l.strip_prefix("cmdstat_").and_then(|l| l.split_once(":calls=")) else {
            continue;
        };
        let mut fields = rest.split(',');
        let n = fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let usec = fields
            .find_map(|f| f.strip_prefix("usec="))
            .and_then(|u| u.parse().ok())
            .unwrap_or(0);
        calls.insert(name.to_string(), n);
        // Redis's own time in each command, µs (a script's time includes its commands').
        calls.insert(format!("usec:{name}"), usec);
    }
    calls
}

/// `MEMORY USAGE` of the first key matching `pattern` on the Redis at `port`, bytes.
pub(crate) async fn memory_of_a_key(port: u16, pattern: &str) -> Option<u64> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .ok()?;
        if let Some(key) = keys.first() {
            return redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async(&mut conn)
                .await
                .ok();
        }
        if next == 0 {
            return None;
        }
        cursor = next;
    }
}

/// Whether a `usec:` entry is a command scripts run (its time is inside the script's already).
pub(crate) fn is_script_inner(key: &str) -> bool {
    !matches!(
        key,
        "usec:evalsha" | "usec:wait" | "usec:script|load" | "usec:ping"
    )
}

/// Calls per command summed over `ports`, as a difference from `before`.
pub(crate) async fn calls_since(
    ports: &[u16],
    before: &std::collections::HashMap<String, u64>,
) -> std::collections::HashMap<String, u64> {
    let mut now = std::collections::HashMap::new();
    for port in ports {
        for (name, calls) in command_calls(*port).await {
            *now.entry(name).or_insert(0) += calls;
        }
    }
    now.into_iter()
        .map(|(name, calls)| {
            let was = before.get(&name).copied().unwrap_or(0);
            (name, calls.saturating_sub(was))
        })
        .filter(|(name, calls)| *calls > 0 && name != "info")
        .collect()
}

/// `--topologies`: the same refresh and login load on one Redis and on a Redis Cluster of 3 primaries
/// and 3 replicas started here (test-support's `ClusterProcess`), and the Redis commands one refresh
/// costs on each (BENCHMARKS.md, "Past one Redis").
pub(crate) async fn topologies(settings: &Settings) {
    let cluster =
        test_support::ClusterProcess::start().expect("a Redis Cluster starts (redis-server, redis-cli)");
    let single_port: u16 = settings
        .redis_url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(6379);
    let login_body = json!({"username": "api_user", "password": PASSWORD});
    let mut lines = Vec::new();
    for (name, var, value, ports) in [
        (
            "one Redis",
            "REDIS_URL",
            settings.redis_url.clone(),
            vec![single_port],
        ),
        (
            "cluster, 3 primaries + 3 replicas",
            "REDIS_CLUSTER_NODES",
            cluster.seeds(),
            cluster.ports(),
        ),
    ] {
        let mut vars = common_vars(settings, false);
        vars.push((var, value));
        let auth = start("auth-service", &vars).await;
        let refresh = load_on(
            auth.pid(),
            refresh_workers(&auth, settings.concurrency).await,
            settings.duration,
        )
        .await;
        let logins = load(
            (0..settings.concurrency)
                .map(|_| post_step(auth.url("/auth/login"), login_body.clone()))
                .collect(),
            settings.duration,
            None,
        )
        .await;
        // Commands per refresh: one chain, one refresh at a time, counted on every node.
        let client = reqwest::Client::new();
        let token = login(&client, &auth).await["refreshToken"]
            .as_str()
            .unwrap()
            .to_string();
        let n = 200u64;
        let before = calls_since(&ports, &std::collections::HashMap::new()).await;
        refresh_in_turn(&client, &auth, token, n as usize).await;
        let spent = calls_since(&ports, &before).await;
        let redis_usec: u64 = spent
            .iter()
            .filter(|(k, _)| *k == "usec:evalsha" || (k.starts_with("usec:") && !is_script_inner(k)))
            .map(|(_, v)| *v)
            .sum();
        let spent: std::collections::HashMap<String, u64> = spent
            .into_iter()
            .filter(|(k, _)| !k.starts_with("usec:"))
            .collect();
        let per = |cmd: &str| spent.get(cmd).copied().unwrap_or(0) as f64 / n as f64;
        let total: u64 = spent.values().sum();
        let prefix = prefix_of(&vars);
        let mut sizes = String::new();
        for (what, pattern) in [("session", "*}:sess:*"), ("user record", "*}:user")] {
            for port in &ports {
                if let Some(bytes) = memory_of_a_key(*port, &format!("{prefix}auth:{pattern}")).await {
                    sizes.push_str(&format!("; a {what} {bytes} B"));
                    break;
                }
            }
        }
        let mut by_command: Vec<(String, u64)> = spent.clone().into_iter().collect();
        by_command.sort_by_key(|c| std::cmp::Reverse(c.1));
        let line = format!(
            "{name}: refresh {} (auth-service CPU {:.0} µs/refresh); login {:.0}/s; per refresh: {:.2} EVALSHA, {:.2} WAIT, {:.1} commands in all, Redis time {:.1} µs{sizes} (scripts' own commands included: {})",
            refresh.summary(),
            refresh.cpu_s.unwrap_or(0.0) * 1e6 / refresh.ok.max(1) as f64,
            logins.rps(),
            per("evalsha"),
            per("wait"),
            total as f64 / n as f64,
            redis_usec as f64 / n as f64,
            by_command
                .iter()
                .map(|(c, k)| format!("{c} {:.2}", *k as f64 / n as f64))
                .collect::<Vec<_>>()
                .join(", ")
        );
        eprintln!("{line}");
        lines.push(line);
    }
    println!();
    println!(
        "Topologies ({} s per scenario, {} connections):",
        settings.duration.as_secs(),
        settings.concurrency
    );
    for line in lines {
        println!("- {line}");
    }
}

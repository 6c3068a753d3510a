//! `ClusterProcess` against the real thing: six `redis-server --cluster-enabled yes` and
//! `redis-cli`, with a key followed through redirects, a resharding (in the foreground and in the
//! background under reads) and the failover of its primary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{run_to_end, ClusterProcess};

/// `redis-cli -p <port> <args...>`'s output, trimmed; panics if redis-cli itself fails.
fn cli(port: u16, args: &[&str]) -> String {
    let out = run_to_end(
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args),
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(out.status.success(), "redis-cli -p {port} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Several commands on one `redis-cli` connection (so `WAIT` counts the `SET` before it).
fn session(port: u16, commands: &str) -> Vec<String> {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "redis-cli -p {port} <<< {commands:?}: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// CRC16/XMODEM modulo 16384: Redis Cluster's hash slot of a key without a `{hash tag}`.
fn slot_of(key: &str) -> u16 {
    let mut crc: u16 = 0;
    for byte in key.bytes() {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The first key `key:<n>` in `slot`.
fn key_in(slot: u16) -> String {
    (0..)
        .map(|n| format!("key:{n}"))
        .find(|k| slot_of(k) == slot)
        .unwrap()
}

#[test]
fn a_cluster_serves_a_key_through_a_resharding_and_the_failover_of_its_primary() {
    let started = Instant::now();
    let mut cluster = ClusterProcess::start().unwrap();
    let start_took = started.elapsed();
    eprintln!("ClusterProcess::start took {start_took:?}");
    let dir = cluster.dir().to_path_buf();

    // Six nodes on six ports, all of them seeds; three primaries.
    let ports = cluster.ports();
    assert_eq!(ports.len(), 6);
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "{ports:?}");
    let seeds: Vec<String> = ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect();
    assert_eq!(cluster.seeds(), seeds.join(","));
    let primaries = cluster.primaries().unwrap();
    assert_eq!(primaries.len(), 3, "{primaries:?}");
    for port in &ports {
        assert_eq!(
            cli(*port, &["cluster", "info"]).lines().next(),
            Some("cluster_state:ok")
        );
        let role = cli(*port, &["role"]);
        let expected = if primaries.contains(port) {
            "master"
        } else {
            "slave"
        };
        assert_eq!(role.lines().next(), Some(expected), "{port}: {role}");
    }

    // `key` is in the last of the first 100 slots, `neighbour` in the first slot after them; the
    // slot arithmetic is Redis's own.
    let (key, neighbour) = (key_in(99), key_in(100));
    assert_eq!(cli(ports[0], &["cluster", "keyslot", &key]), "99");
    assert_eq!(cli(ports[0], &["cluster", "keyslot", &neighbour]), "100");
    let owner = cluster.primary_for_key(&key).unwrap();
    assert!(primaries.contains(&owner));
    assert_eq!(cluster.primary_for_key(&neighbour).unwrap(), owner);

    // Written through a node that does not serve it (redis-cli -c follows the MOVED), read
    // through another; without -c the other node answers with the MOVED itself.
    let elsewhere: Vec<u16> = primaries.iter().copied().filter(|p| *p != owner).collect();
    assert_eq!(cli(elsewhere[0], &["-c", "set", &key, "before"]), "OK");
    assert_eq!(cli(elsewhere[0], &["-c", "set", &neighbour, "stays"]), "OK");
    assert_eq!(cli(elsewhere[1], &["-c", "get", &key]), "before");
    assert_eq!(cli(owner, &["get", &key]), "before");
    assert_eq!(
        cli(elsewhere[1], &["get", &key]),
        format!("MOVED 99 127.0.0.1:{owner}")
    );

    // 100 slots from the key's primary to another: its first hundred, 0 to 99, with the key.
    let to = elsewhere[0];
    cluster.reshard(owner, to, 100).unwrap();
    cluster.wait_healthy(Duration::from_secs(10)).unwrap();
    assert_eq!(cluster.primary_for_key(&key).unwrap(), to);
    assert_eq!(cluster.primary_for_key(&neighbour).unwrap(), owner);
    assert_eq!(cli(to, &["get", &key]), "before", "the key moved with its slot");
    assert_eq!(cli(owner, &["get", &key]), format!("MOVED 99 127.0.0.1:{to}"));
    assert_eq!(cli(elsewhere[1], &["-c", "get", &key]), "before");
    assert_eq!(cli(elsewhere[1], &["-c", "get", &neighbour]), "stays");

    // And back, in the background, while the key is read over and over.
    let mut reshard = cluster.reshard_spawn(to, owner, 100).unwrap();
    let mut reads = 0;
    let status = loop {
        if let Some(status) = reshard.try_wait().unwrap() {
            break status;
        }
        assert_eq!(cli(elsewhere[1], &["-c", "get", &key]), "before");
        reads += 1;
    };
    assert!(status.success(), "the background reshard failed: {status}");
    assert!(reads > 0);
    assert!(dir.join("reshard-0.log").is_file());
    cluster.wait_healthy(Duration::from_secs(10)).unwrap();
    assert_eq!(cluster.primary_for_key(&key).unwrap(), owner);
    assert_eq!(cli(elsewhere[1], &["-c", "get", &key]), "before");

    // A new value, acknowledged by the primary's replica (WAIT 1), then the primary is killed.
    assert_eq!(
        session(owner, &format!("SET {key} after\nWAIT 1 5000\n")),
        ["OK", "1"]
    );
    cluster.kill(owner);
    cluster.kill(owner); // a second time: nothing happens
    assert!(
        TcpStream::connect(("127.0.0.1", owner)).is_err(),
        "{owner} still accepts"
    );
    assert_eq!(cluster.ports(), ports, "a killed node is still one of the ports");
    assert_eq!(cluster.running().len(), 5);
    let failing_over = Instant::now();
    cluster.wait_healthy(Duration::from_secs(30)).unwrap();
    eprintln!("failover took {:?}", failing_over.elapsed());

    let promoted = cluster.primary_for_key(&key).unwrap();
    assert_ne!(promoted, owner);
    assert!(
        !primaries.contains(&promoted),
        "a replica was promoted, not another primary"
    );
    let now = cluster.primaries().unwrap();
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.contains(&promoted) && !now.contains(&owner));
    assert_eq!(cluster.primary_for_key(&neighbour).unwrap(), promoted);
    for port in cluster.running() {
        assert_eq!(cli(port, &["-c", "get", &key]), "after", "through {port}");
        assert_eq!(cli(port, &["-c", "get", &neighbour]), "stays", "through {port}");
    }
    assert_eq!(cli(promoted, &["role"]).lines().next(), Some("master"));

    // Dropped: every node gone, the directory too.
    drop(cluster);
    for port in &ports {
        assert!(
            TcpStream::connect(("127.0.0.1", *port)).is_err(),
            "{port} still accepts"
        );
    }
    assert!(!dir.exists(), "{} is left", dir.display());
}

#[test]
fn wait_healthy_times_out_when_no_running_primary_has_a_slot() {
    let mut cluster = ClusterProcess::start().unwrap();
    // A primary and its replica both killed: their slots have nobody.
    let primary = cluster.primaries().unwrap()[0];
    let replica = cluster
        .running()
        .into_iter()
        .find(|port| cli(*port, &["role"]).lines().nth(2) == Some(&primary.to_string()))
        .expect("the primary's replica");
    cluster.kill(replica);
    cluster.kill(primary);
    let waited = Instant::now();
    let err = cluster.wait_healthy(Duration::from_secs(3)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(waited.elapsed() >= Duration::from_secs(3));
    assert!(err.to_string().contains("not healthy within"), "{err}");
}

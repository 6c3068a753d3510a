//! Redis Cluster: a real cluster of 3 primaries and 3 replicas (test-support's `ClusterProcess`), two
//! auth-service processes on it. What one process does, the other honours (rotation, reuse, logout);
//! then, while both serve refresh chains and logins, the primary that holds the user's slot is killed,
//! and afterwards 500 slots are resharded: nothing but 503 during either, every chain goes on after
//! them, and no reuse is falsely detected.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::ClusterProcess;

use crate::helpers::{codigo, read, tokens, ADMIN, ADMIN_PASSWORD, MFA_KEY, SECRET};
use crate::process::{start_auth, ServiceProcess};

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    read(client.post(url).json(&body).send().await.unwrap()).await
}

fn start_on(cluster: &ClusterProcess) -> ServiceProcess {
    start_auth(&[
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ("REDIS_CLUSTER_NODES", cluster.seeds()),
        ("JWT_REFRESH_RETRY_GRACE_SECONDS", "10".to_string()),
        ("RATE_LIMIT_IP_PER_MINUTE", "1000000".to_string()),
        ("RATE_LIMIT_LOGIN_MAX_FAILURES", "1000".to_string()),
    ])
}

async fn reuse_detected(client: &reqwest::Client, auth: &ServiceProcess) -> bool {
    let metrics = client
        .get(auth.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .any(|l| l.starts_with("auth_refresh_reuse_detected_total") && !l.ends_with(" 0"))
}

/// Refreshes `refresh` until one answer is 200, retrying on 503 (with the same token: a rotation
/// that happened before its answer was lost is answered again within the grace). Any other status
/// fails the test. Returns the next refresh token.
async fn refresh_once(
    client: &reqwest::Client,
    auth: &ServiceProcess,
    refresh: &str,
    unavailable: &AtomicUsize,
) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = post(
            client,
            auth.url("/auth/refresh"),
            json!({"refreshToken": refresh}),
        )
        .await;
        match status {
            200 => return tokens(&body).1,
            503 => {
                assert_eq!(codigo(&body), "SERVICE_UNAVAILABLE", "{body}");
                unavailable.fetch_add(1, Ordering::Relaxed);
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "still 503 after 30 s: {body}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("only 200 or 503 on a cluster in trouble, got {other}: {body}"),
        }
    }
}

/// Chains of refreshes on both processes, and logins, until `stop`; returns how many refreshes
/// succeeded after `mark` was set, per chain.
struct Load {
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicBool>,
    after_mark: Arc<Vec<AtomicUsize>>,
    unavailable: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn start(
        client: &reqwest::Client,
        a: &Arc<ServiceProcess>,
        b: &Arc<ServiceProcess>,
        chains: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mark = Arc::new(AtomicBool::new(false));
        let after_mark: Arc<Vec<AtomicUsize>> = Arc::new((0..chains).map(|_| AtomicUsize::new(0)).collect());
        let unavailable = Arc::new(AtomicUsize::new(0));
        let login = json!({"username": ADMIN, "password": ADMIN_PASSWORD});
        let mut tasks = Vec::new();
        for chain in 0..chains {
            let (status, body) = post(client, a.url("/auth/login"), login.clone()).await;
            assert_eq!(status, 200, "{body}");
            let mut refresh = tokens(&body).1;
            let (client, a, b) = (client.clone(), a.clone(), b.clone());
            let (stop, mark, after_mark, unavailable) = (
                stop.clone(),
                mark.clone(),
                after_mark.clone(),
                unavailable.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    // Alternate processes: each rotation is checked by the other one next.
                    let auth = if n.is_multiple_of(2) { &a } else { &b };
                    refresh = refresh_once(&client, auth, &refresh, &unavailable).await;
                    n += 1;
                    if mark.load(Ordering::Relaxed) {
                        after_mark[chain].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Logins meanwhile, on both (argon2 is the cost: one every 300 ms).
        {
            let (client, a, b, stop, unavailable) = (
                client.clone(),
                a.clone(),
                b.clone(),
                stop.clone(),
                unavailable.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let auth = if n.is_multiple_of(2) { &a } else { &b };
                    let (status, body) = post(&client, auth.url("/auth/login"), login.clone()).await;
                    match status {
                        200 => {}
                        503 => {
                            unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("login: only 200 or 503, got {other}: {body}"),
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }));
        }
        Self {
            stop,
            mark,
            after_mark,
            unavailable,
            tasks,
        }
    }

    /// Counts from now; waits until every chain has done `n` more refreshes (or fails after `limit`).
    async fn every_chain_goes_on(&self, n: usize, limit: Duration) {
        for count in self.after_mark.iter() {
            count.store(0, Ordering::Relaxed);
        }
        self.mark.store(true, Ordering::Relaxed);
        let started = Instant::now();
        loop {
            let done: Vec<usize> = self
                .after_mark
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect();
            if done.iter().all(|d| *d >= n) {
                return;
            }
            for task in &self.tasks {
                assert!(
                    !task.is_finished(),
                    "a load task ended early (a wrong status: see its panic)"
                );
            }
            assert!(started.elapsed() < limit, "chains stalled: {done:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await
                .expect("a load task failed (a status other than 200 or 503)");
        }
        self.unavailable.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_a_cluster_survive_a_failover_and_a_reshard_under_load() {
    let mut cluster = ClusterProcess::start().unwrap();
    let a = Arc::new(start_on(&cluster));
    let b = Arc::new(start_on(&cluster));
    let client = reqwest::Client::new();
    let login = json!({"username": ADMIN, "password": ADMIN_PASSWORD});

    // Rotate on A, present the old token on B: reuse detected, the session ends everywhere.
    let (status, body) = post(&client, a.url("/auth/login"), login.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (_, first) = tokens(&body);
    let (status, body) = post(&client, a.url("/auth/refresh"), json!({"refreshToken": first})).await;
    assert_eq!(status, 200, "{body}");
    let second = tokens(&body).1;
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Within the grace the old token is answered with the same successor, on either process.
    let (status, body) = post(&client, b.url("/auth/refresh"), json!({"refreshToken": first})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        tokens(&body).1,
        second,
        "B answers A's rotation again, not a new one"
    );
    let (status, body) = post(&client, b.url("/auth/refresh"), json!({"refreshToken": second})).await;
    assert_eq!(status, 200, "{body}");
    let third = tokens(&body).1;
    // `first` is now two generations old: reuse, on A; then the whole session is dead on B.
    let (status, _) = post(&client, a.url("/auth/refresh"), json!({"refreshToken": first})).await;
    assert_eq!(status, 401);
    let (status, _) = post(&client, b.url("/auth/refresh"), json!({"refreshToken": third})).await;
    assert_eq!(status, 401, "the session is revoked on every process");
    assert!(reuse_detected(&client, &a).await);

    // Logout on A is honoured by B.
    let (status, body) = post(&client, b.url("/auth/login"), login.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (access, _) = tokens(&body);
    let me = |auth: &ServiceProcess| client.get(auth.url("/auth/me")).bearer_auth(&access).send();
    assert_eq!(me(&b).await.unwrap().status(), 200);
    let logout = client
        .post(a.url("/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success(), "{}", logout.status());
    assert_eq!(
        me(&b).await.unwrap().status(),
        401,
        "B refuses a token logged out on A"
    );

    // Under load: kill the primary of the user's slot.
    let user_key = auth_service::store::keys::Keys::new("sta:").user("1");
    let victim = cluster.primary_for_key(&user_key).unwrap();
    let load = Load::start(&client, &a, &b, 6).await;
    load.every_chain_goes_on(5, Duration::from_secs(30)).await;
    cluster.kill(victim);
    let killed = Instant::now();
    cluster.wait_healthy(Duration::from_secs(30)).unwrap();
    let new_primary = cluster.primary_for_key(&user_key).unwrap();
    assert_ne!(new_primary, victim, "a replica took over the slot");
    // The new primary has no replica left: a write none acknowledges is refused (503), since a
    // failover now would lose it. The killed node comes back as its replica, and writes go on.
    cluster.restart(victim).unwrap();
    cluster.wait_healthy(Duration::from_secs(30)).unwrap();
    load.every_chain_goes_on(10, Duration::from_secs(45)).await;
    let failover_secs = killed.elapsed().as_secs_f64();

    // Under load: reshard 500 slots from the user's primary to another.
    let to = cluster
        .primaries()
        .unwrap()
        .into_iter()
        .find(|p| *p != new_primary)
        .unwrap();
    let mut reshard = cluster.reshard_spawn(new_primary, to, 500).unwrap();
    let status = tokio::task::spawn_blocking(move || reshard.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "redis-cli --cluster reshard failed: see {:?}",
        cluster.dir()
    );
    load.every_chain_goes_on(10, Duration::from_secs(30)).await;
    let unavailable = load.stop().await;

    assert!(
        !reuse_detected(&client, &b).await,
        "no reuse falsely detected on B"
    );
    // A's only reuse is the one provoked above: exactly one.
    let metrics = client
        .get(a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reuses: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("auth_refresh_reuse_detected_total"))
        .collect();
    assert_eq!(reuses, ["auth_refresh_reuse_detected_total 1"], "{metrics}");
    println!("failover to every chain 10 refreshes further: {failover_secs:.1} s; 503s seen: {unavailable}");
}

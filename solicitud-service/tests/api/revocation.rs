//! The revocation feed across real processes: auth-service revokes, solicitud-service (following the
//! feed in Redis) refuses the same access token within milliseconds, with no call between them.
//! Redis outages and restarts use a redis-server of the test's own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::{free_port, hash_password, sibling_binary, RedisProcess, ServiceProcess};

use crate::helpers::{codigo, read, redis_url, unique_prefix, SECRET};

const ADMIN_PASSWORD: &str = "feed admin password";
const MFA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn binary(name: &str) -> PathBuf {
    sibling_binary(env!("CARGO_BIN_EXE_solicitud-service"), name)
        .unwrap_or_else(|e| panic!("no {name} binary: {e}"))
}

/// Where both services meet: a Redis and a key prefix.
#[derive(Clone)]
struct Deployment {
    redis_url: String,
    prefix: String,
    /// `REDIS_CLUSTER_NODES`, instead of `redis_url`.
    cluster: Option<String>,
}

impl Deployment {
    fn shared_redis() -> Self {
        Self {
            redis_url: redis_url(),
            prefix: unique_prefix(),
            cluster: None,
        }
    }

    fn on_cluster(cluster: &test_support::ClusterProcess) -> Self {
        Self {
            redis_url: String::new(),
            prefix: unique_prefix(),
            cluster: Some(cluster.seeds()),
        }
    }

    fn common(&self) -> Vec<(&'static str, String)> {
        let redis = match &self.cluster {
            Some(nodes) => ("REDIS_CLUSTER_NODES", nodes.clone()),
            None => ("REDIS_URL", self.redis_url.clone()),
        };
        vec![
            ("JWT_SECRET", SECRET.to_string()),
            redis,
            ("REDIS_KEY_PREFIX", self.prefix.clone()),
        ]
    }

    fn auth(&self, extra: &[(&'static str, String)]) -> ServiceProcess {
        let mut vars = self.common();
        vars.extend([
            ("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()),
            ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
            ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ]);
        vars.extend(extra.iter().cloned());
        ServiceProcess::start(binary("auth-service"), &vars)
            .unwrap_or_else(|e| panic!("auth-service did not start: {e}"))
    }

    /// A solicitud service, once its feed is loaded (`/ready`).
    fn solicitud(&self, extra: &[(&'static str, String)]) -> ServiceProcess {
        let mut vars = self.common();
        vars.push(("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()));
        vars.extend(extra.iter().cloned());
        let sol = ServiceProcess::start(binary("solicitud-service"), &vars)
            .unwrap_or_else(|e| panic!("solicitud-service did not start: {e}"));
        assert!(
            sol.wait_for_log("revocation feed loaded", Duration::from_secs(10)),
            "the feed was not loaded: {:?}",
            sol.logs()
        );
        sol
    }
}

async fn login(
    client: &reqwest::Client,
    auth: &ServiceProcess,
    username: &str,
    password: &str,
) -> (String, String) {
    let res = client
        .post(auth.url("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    (
        body["datos"]["accessToken"].as_str().unwrap().to_string(),
        body["datos"]["refreshToken"].as_str().unwrap().to_string(),
    )
}

async fn admin_login(client: &reqwest::Client, auth: &ServiceProcess) -> String {
    login(client, auth, "api_user", ADMIN_PASSWORD).await.0
}

async fn post_bearer(
    client: &reqwest::Client,
    auth: &ServiceProcess,
    path: &str,
    token: &str,
) -> (u16, Value) {
    read(
        client
            .post(auth.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `GET /solicitud/` with `token`: status and codigo.
async fn list(client: &reqwest::Client, sol: &ServiceProcess, token: &str) -> (u16, String) {
    let (status, body) = read(
        client
            .get(sol.url("/solicitud/"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (status, codigo(&body).to_string())
}

/// Polls the solicitud service until `token` is refused as revoked (at most 2 s); how long it took.
async fn refused_within(client: &reqwest::Client, sol: &ServiceProcess, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        let answer = list(client, sol, token).await;
        if answer == (401, "TOKEN_REVOKED".to_string()) {
            return start.elapsed();
        }
        assert_eq!(answer.0, 200, "{answer:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still accepted after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0.0)
}

async fn metrics(client: &reqwest::Client, sol: &ServiceProcess) -> String {
    client
        .get(sol.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_logout_at_the_auth_service_is_refused_at_the_solicitud_service() {
    let d = Deployment::shared_redis();
    let auth = d.auth(&[]);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();
    let access = admin_login(&client, &auth).await;
    let other = admin_login(&client, &auth).await;
    assert_eq!(list(&client, &sol, &access).await.0, 200);

    assert_eq!(post_bearer(&client, &auth, "/auth/logout", &access).await.0, 200);
    let took = refused_within(&client, &sol, &access).await;
    assert!(took < Duration::from_millis(500), "{took:?}");
    // Another session of the same user is untouched.
    assert_eq!(list(&client, &sol, &other).await.0, 200);
    let text = metrics(&client, &sol).await;
    assert!(metric(&text, "revocation_feed_entries_total") >= 2.0, "{text}");
    assert!(metric(&text, "revocation_deny_set_size") >= 2.0, "{text}");
}

#[tokio::test]
async fn a_logout_all_refuses_every_session_of_the_user_and_not_a_later_login() {
    let d = Deployment::shared_redis();
    let auth = d.auth(&[]);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();
    let first = admin_login(&client, &auth).await;
    let second = admin_login(&client, &auth).await;
    assert_eq!(
        post_bearer(&client, &auth, "/auth/logout-all", &first).await.0,
        200
    );
    refused_within(&client, &sol, &first).await;
    refused_within(&client, &sol, &second).await;
    // A login right after (possibly in the cut-off's second) is a new session, never born revoked.
    let after = admin_login(&client, &auth).await;
    assert_eq!(list(&client, &sol, &after).await, (200, String::new()));
}

#[tokio::test]
async fn refresh_token_reuse_refuses_every_access_token_of_the_session() {
    let d = Deployment::shared_redis();
    let auth = d.auth(&[("JWT_REFRESH_RETRY_GRACE_SECONDS", "0".to_string())]);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();
    let (first_access, refresh) = login(&client, &auth, "api_user", ADMIN_PASSWORD).await;
    let refresh_once = || async {
        read(
            client
                .post(auth.url("/auth/refresh"))
                .json(&json!({"refreshToken": refresh}))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    let (status, body) = refresh_once().await;
    assert_eq!(status, 200, "{body}");
    let second_access = body["datos"]["accessToken"].as_str().unwrap().to_string();
    assert_eq!(list(&client, &sol, &second_access).await.0, 200);
    // The rotated refresh token again: reuse, the whole session is revoked.
    let (status, body) = refresh_once().await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
    refused_within(&client, &sol, &second_access).await;
    refused_within(&client, &sol, &first_access).await;
}

#[tokio::test]
async fn a_password_changed_in_the_users_file_refuses_the_users_tokens_once_auth_restarts() {
    let d = Deployment::shared_redis();
    let users = std::env::temp_dir().join(format!("feed-users-{}.toml", uuid::Uuid::new_v4().simple()));
    let write_users = |password: &str, active: bool| {
        let hash = hash_password(binary("auth-service"), password).unwrap();
        std::fs::write(
            &users,
            format!(
                "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{hash}\"\nactive = {active}\n"
            ),
        )
        .unwrap();
    };
    write_users("maria password one", true);
    let auth_vars = [("USERS_FILE", users.to_string_lossy().into_owned())];
    let auth = d.auth(&auth_vars);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();
    let (maria, _) = login(&client, &auth, "maria", "maria password one").await;
    let admin = admin_login(&client, &auth).await;
    assert_eq!(list(&client, &sol, &maria).await.0, 200);

    // The file changes; the users file is read at start, so the auth service restarts.
    write_users("maria password two", true);
    drop(auth);
    let auth = d.auth(&auth_vars);
    refused_within(&client, &sol, &maria).await;
    assert_eq!(
        list(&client, &sol, &admin).await.0,
        200,
        "other users are untouched"
    );
    let (maria_again, _) = login(&client, &auth, "maria", "maria password two").await;
    assert_eq!(list(&client, &sol, &maria_again).await.0, 200);

    // Disabled in the file: the same.
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_users("maria password two", false);
    drop(auth);
    let _auth = d.auth(&auth_vars);
    refused_within(&client, &sol, &maria_again).await;
    let _ = std::fs::remove_file(users);
}

#[tokio::test]
async fn a_user_disabled_or_demoted_through_the_admin_api_is_refused_at_the_solicitud_service() {
    let d = Deployment::shared_redis();
    let auth = d.auth(&[]);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();
    let admin = admin_login(&client, &auth).await;
    let password = "a user of the admin api 1";
    let res = client
        .post(auth.url("/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "rosa", "email": "rosa@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201, "{body}");
    let id = body["datos"]["user"]["id"].as_u64().unwrap();
    for change in [json!({"active": false}), json!({"rol": "admin"})] {
        let (rosa, _) = login(&client, &auth, "rosa", password).await;
        assert_eq!(list(&client, &sol, &rosa).await.0, 200);
        let res = client
            .patch(auth.url(&format!("/admin/users/{id}")))
            .bearer_auth(&admin)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let took = refused_within(&client, &sol, &rosa).await;
        assert!(took < Duration::from_millis(500), "{change}: {took:?}");
        let res = client
            .patch(auth.url(&format!("/admin/users/{id}")))
            .bearer_auth(&admin)
            .json(&json!({"active": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    assert_eq!(
        list(&client, &sol, &admin).await.0,
        200,
        "other users are untouched"
    );
}

#[tokio::test]
async fn a_solicitud_service_started_after_the_revocation_refuses_the_token() {
    let d = Deployment::shared_redis();
    let auth = d.auth(&[]);
    let client = reqwest::Client::new();
    let access = admin_login(&client, &auth).await;
    let survivor = admin_login(&client, &auth).await;
    assert_eq!(post_bearer(&client, &auth, "/auth/logout", &access).await.0, 200);
    let sol = d.solicitud(&[]);
    assert_eq!(
        list(&client, &sol, &access).await,
        (401, "TOKEN_REVOKED".to_string())
    );
    assert_eq!(list(&client, &sol, &survivor).await.0, 200);
}

/// A deployment on a Redis of the test's own (with AOF).
fn own_redis() -> (RedisProcess, Deployment) {
    let redis = RedisProcess::start_with_aof(free_port().unwrap()).unwrap();
    let d = Deployment {
        redis_url: redis.url(),
        prefix: unique_prefix(),
        cluster: None,
    };
    (redis, d)
}

/// A solicitud service that keeps its own data in the shared Redis and follows the feed in the
/// deployment's (the test's own): stopping the latter stops only the feed, so what is measured is the
/// verification alone.
fn solicitud_following(d: &Deployment, extra: &[(&'static str, String)]) -> ServiceProcess {
    let data = Deployment {
        redis_url: redis_url(),
        prefix: d.prefix.clone(),
        cluster: None,
    };
    let mut vars = vec![("REVOCATION_FEED_REDIS_URL", d.redis_url.clone())];
    vars.extend(extra.iter().cloned());
    data.solicitud(&vars)
}

fn bound(secs: u64) -> (&'static str, String) {
    ("REVOCATION_FEED_MAX_STALENESS_SECONDS", secs.to_string())
}

#[tokio::test]
async fn with_redis_down_tokens_verify_within_the_bound_then_503_and_after_a_restart_it_catches_up() {
    let (mut redis, d) = own_redis();
    let auth = d.auth(&[]);
    let sol = solicitud_following(&d, &[bound(2)]);
    let client = reqwest::Client::new();
    let revoked = admin_login(&client, &auth).await;
    let good = admin_login(&client, &auth).await;
    let later = admin_login(&client, &auth).await;
    assert_eq!(post_bearer(&client, &auth, "/auth/logout", &revoked).await.0, 200);
    refused_within(&client, &sol, &revoked).await;

    redis.stop();
    let down_at = Instant::now();
    // Within the bound: still verified locally.
    assert_eq!(list(&client, &sol, &good).await.0, 200);
    assert_eq!(
        list(&client, &sol, &revoked).await,
        (401, "TOKEN_REVOKED".to_string())
    );
    // Past it: fail closed; a token known to be revoked is still refused as such.
    tokio::time::sleep(Duration::from_millis(2600).saturating_sub(down_at.elapsed())).await;
    assert_eq!(
        list(&client, &sol, &good).await,
        (503, "SERVICE_UNAVAILABLE".to_string())
    );
    assert_eq!(
        list(&client, &sol, &revoked).await,
        (401, "TOKEN_REVOKED".to_string())
    );
    let ready = client.get(sol.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    // Redis comes back with its data: the same process catches up and follows again.
    redis.restart().unwrap();
    let back = Instant::now();
    loop {
        let answer = list(&client, &sol, &good).await;
        if answer.0 == 200 {
            break;
        }
        assert_eq!(answer.0, 503, "{answer:?}");
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not back 5 s after Redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        list(&client, &sol, &revoked).await,
        (401, "TOKEN_REVOKED".to_string())
    );
    // A revocation made after the restart arrives too.
    let (status, body) = post_bearer(&client, &auth, "/auth/logout", &later).await;
    assert_eq!(status, 200, "{body}");
    refused_within(&client, &sol, &later).await;
    let text = metrics(&client, &sol).await;
    assert!(metric(&text, "revocation_feed_reconnects_total") >= 1.0, "{text}");
    assert!(sol
        .logs()
        .iter()
        .any(|l| l.contains("revocation feed reconnected")));
    // Tokens never reach the logs.
    for token in [&revoked, &good, &later] {
        assert!(!sol.logs().iter().any(|l| l.contains(token.as_str())));
    }
}

#[tokio::test]
async fn with_the_allow_policy_a_stale_feed_lets_requests_through_with_a_warning_and_a_metric() {
    let (mut redis, d) = own_redis();
    let auth = d.auth(&[]);
    let sol = solicitud_following(
        &d,
        &[bound(1), ("REVOCATION_FEED_WHEN_STALE", "allow".to_string())],
    );
    let client = reqwest::Client::new();
    let good = admin_login(&client, &auth).await;
    let revoked = admin_login(&client, &auth).await;
    assert_eq!(post_bearer(&client, &auth, "/auth/logout", &revoked).await.0, 200);
    refused_within(&client, &sol, &revoked).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(list(&client, &sol, &good).await.0, 200);
    assert_eq!(
        list(&client, &sol, &revoked).await.0,
        401,
        "what is known stays refused"
    );
    assert_eq!(client.get(sol.url("/ready")).send().await.unwrap().status(), 200);
    let text = metrics(&client, &sol).await;
    assert!(metric(&text, "revocation_stale_accepted_total") >= 1.0, "{text}");
    assert!(metric(&text, "revocation_feed_lag_seconds") >= 1.0, "{text}");
    assert!(sol.wait_for_log("revocation feed is stale past its bound", Duration::from_secs(1)));
}

#[tokio::test]
async fn a_solicitud_service_that_cannot_reach_redis_at_start_fails_closed() {
    let port = free_port().unwrap();
    let d = Deployment {
        redis_url: format!("redis://127.0.0.1:{port}"),
        prefix: unique_prefix(),
        cluster: None,
    };
    let mut vars = d.common();
    vars.push(("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()));
    let sol = ServiceProcess::start(binary("solicitud-service"), &vars).unwrap();
    let client = reqwest::Client::new();
    let signer = crate::helpers::TestApp::spawn(crate::helpers::StoreKind::Memory).await;
    let token = signer.admin();
    assert_eq!(
        list(&client, &sol, &token).await,
        (503, "SERVICE_UNAVAILABLE".to_string())
    );
    assert!(sol.wait_for_log("revocation feed unreachable", Duration::from_secs(2)));
}

#[tokio::test]
async fn the_embedded_store_says_at_start_that_revocations_are_not_propagated() {
    let sol = ServiceProcess::start(
        binary("solicitud-service"),
        &[
            ("JWT_SECRET", SECRET.to_string()),
            ("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()),
        ],
    )
    .unwrap();
    assert!(sol.wait_for_log("revocations are not propagated", Duration::from_secs(2)));
    let off = ServiceProcess::start(
        binary("solicitud-service"),
        &[
            ("JWT_SECRET", SECRET.to_string()),
            ("SOLICITUD_BIND_ADDR", "127.0.0.1:0".to_string()),
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", unique_prefix()),
            ("REVOCATION_FEED_ENABLED", "false".to_string()),
        ],
    )
    .unwrap();
    assert!(off.wait_for_log("REVOCATION_FEED_ENABLED=false", Duration::from_secs(2)));
}

#[tokio::test]
async fn a_password_change_noted_while_redis_is_down_reaches_the_feed_once_redis_is_back() {
    let (mut redis, d) = own_redis();
    let users = std::env::temp_dir().join(format!("feed-users-{}.toml", uuid::Uuid::new_v4().simple()));
    let write_users = |password: &str| {
        let hash = hash_password(binary("auth-service"), password).unwrap();
        std::fs::write(
            &users,
            format!(
                "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\npassword_hash = \"{hash}\"\n"
            ),
        )
        .unwrap();
    };
    write_users("maria password one");
    let auth_vars = [("USERS_FILE", users.to_string_lossy().into_owned())];
    let auth = d.auth(&auth_vars);
    let sol = solicitud_following(&d, &[bound(60)]);
    let client = reqwest::Client::new();
    let (maria, _) = login(&client, &auth, "maria", "maria password one").await;
    assert_eq!(list(&client, &sol, &maria).await.0, 200);
    drop(auth);

    // The auth service restarts with a new password while Redis is down: it cannot record it yet.
    write_users("maria password two");
    redis.stop();
    let auth = d.auth(&auth_vars);
    assert!(
        auth.wait_for_log("cannot apply the configured users yet", Duration::from_secs(8)),
        "{:?}",
        auth.logs()
    );
    assert_eq!(
        list(&client, &sol, &maria).await.0,
        200,
        "within the bound, nothing known yet"
    );
    redis.restart().unwrap();
    assert!(
        auth.wait_for_log("sessions ended", Duration::from_secs(8)),
        "{:?}",
        auth.logs()
    );
    refused_within(&client, &sol, &maria).await;
    let _ = std::fs::remove_file(users);
}

/// On a Redis Cluster (3 primaries, 3 replicas), where the feed is a stream in a slot of its own
/// appended after each revoking script: a logout, a logout-all and a refresh-token reuse at the auth
/// service are each refused at the solicitud service, which also keeps its own records there.
#[tokio::test]
async fn on_a_redis_cluster_every_revocation_reaches_the_solicitud_service() {
    let cluster = test_support::ClusterProcess::start().unwrap();
    let d = Deployment::on_cluster(&cluster);
    let auth = d.auth(&[("JWT_REFRESH_RETRY_GRACE_SECONDS", "0".to_string())]);
    let sol = d.solicitud(&[]);
    let client = reqwest::Client::new();

    let access = admin_login(&client, &auth).await;
    let (status, body) = read(
        client
            .post(sol.url("/solicitud/"))
            .bearer_auth(&access)
            .json(&crate::helpers::valid_request())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "a solicitud is stored on the cluster: {body}");
    assert_eq!(post_bearer(&client, &auth, "/auth/logout", &access).await.0, 200);
    refused_within(&client, &sol, &access).await;

    let first = admin_login(&client, &auth).await;
    assert_eq!(
        post_bearer(&client, &auth, "/auth/logout-all", &first).await.0,
        200
    );
    refused_within(&client, &sol, &first).await;

    let (access, refresh) = login(&client, &auth, "api_user", ADMIN_PASSWORD).await;
    for expected in [200, 401] {
        let (status, _) = read(
            client
                .post(auth.url("/auth/refresh"))
                .json(&json!({"refreshToken": refresh}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, expected, "the second use of one refresh token is reuse");
    }
    refused_within(&client, &sol, &access).await;
}

//! Many replicas on one Redis (real processes, and in-process ones with skewed clocks), and Redis
//! failing under a running service.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    codigo, read, redis_url, tokens, unique_prefix, StoreKind, TestApp, ADMIN, ADMIN_PASSWORD, MFA_KEY,
    SECRET,
};
use crate::process::{start_auth, start_redis, ServiceProcess};

fn vars(redis: &str, prefix: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ("REDIS_URL", redis.to_string()),
        ("REDIS_KEY_PREFIX", prefix.to_string()),
    ];
    v.extend(extra.iter().map(|(k, val)| (*k, val.to_string())));
    v
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    read(client.post(url).json(&body).send().await.unwrap()).await
}

async fn login(client: &reqwest::Client, auth: &ServiceProcess, password: &str) -> (u16, Value) {
    post(
        client,
        auth.url("/auth/login"),
        json!({"username": ADMIN, "password": password}),
    )
    .await
}

async fn me(client: &reqwest::Client, auth: &ServiceProcess, token: &str) -> (u16, Value) {
    read(
        client
            .get(auth.url("/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn two_replicas_on_one_redis_share_rotation_revocation_and_locks() {
    let prefix = unique_prefix();
    let extra = [("JWT_REFRESH_RETRY_GRACE_SECONDS", "0")];
    let a = start_auth(&vars(&redis_url(), &prefix, &extra));
    let b = start_auth(&vars(&redis_url(), &prefix, &extra));
    let client = reqwest::Client::new();

    // Rotated on A, reused on B: detected, and the session is dead on both.
    let (_, body) = login(&client, &a, ADMIN_PASSWORD).await;
    let (_, r0) = tokens(&body);
    let (status, body) = post(&client, a.url("/auth/refresh"), json!({"refreshToken": r0})).await;
    assert_eq!(status, 200, "{body}");
    let (a1, r1) = tokens(&body);
    let (status, body) = post(&client, b.url("/auth/refresh"), json!({"refreshToken": r0})).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
    let (status, _) = post(&client, a.url("/auth/refresh"), json!({"refreshToken": r1})).await;
    assert_eq!(status, 401, "the newest refresh token died with the session");
    assert_eq!(me(&client, &a, &a1).await.0, 401);

    // A logout on A is honoured by B.
    let (_, body) = login(&client, &a, ADMIN_PASSWORD).await;
    let (access, _) = tokens(&body);
    assert_eq!(me(&client, &b, &access).await.0, 200);
    let res = client
        .post(a.url("/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (status, body) = me(&client, &b, &access).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));

    // Failed logins counted across both replicas lock the account on both.
    for (i, replica) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        assert_eq!(login(&client, replica, "wrong").await.0, 422, "failure {i}");
    }
    assert_eq!(login(&client, &b, ADMIN_PASSWORD).await.0, 429);
    assert_eq!(login(&client, &a, ADMIN_PASSWORD).await.0, 429);
}

#[tokio::test]
async fn with_redis_down_requests_fail_closed_and_the_service_heals_when_it_returns() {
    let mut redis = start_redis();
    let mut auth = start_auth(&vars(&redis.url(), "fault:", &[]));
    let client = reqwest::Client::new();

    let (status, body) = login(&client, &auth, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh) = tokens(&body);

    redis.stop();
    let (status, body) = login(&client, &auth, ADMIN_PASSWORD).await;
    assert_eq!((status, codigo(&body)), (503, "SERVICE_UNAVAILABLE"));
    assert!(body.get("datos").is_none(), "no token issued without the store");
    let (status, body) = me(&client, &auth, &access).await;
    assert_eq!(
        (status, codigo(&body)),
        (503, "SERVICE_UNAVAILABLE"),
        "no token accepted unchecked"
    );
    let (status, _) = post(
        &client,
        auth.url("/auth/refresh"),
        json!({"refreshToken": refresh}),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(
        client
            .get(auth.url("/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        503
    );
    assert_eq!(
        client
            .get(auth.url("/health"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert!(auth.is_running(), "the process stays up");

    redis.restart().expect("redis-server restarts");
    let mut healed = false;
    for _ in 0..50 {
        if client
            .get(auth.url("/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            == 200
        {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healed, "ready again without a restart");
    let (status, body) = login(&client, &auth, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // That Redis kept nothing: the old session is gone, so its token is refused, not trusted.
    let (status, body) = me(&client, &auth, &access).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
}

/// `docker compose restart redis`: Redis goes away and comes back while nobody is asking. The service
/// had used its connection before; the very first requests after Redis is back succeed (no 503 for a
/// stale connection), twice over.
#[tokio::test]
async fn the_first_requests_after_a_redis_restart_succeed() {
    let mut redis = start_redis();
    let auth = start_auth(&vars(&redis.url(), "restart:", &[]));
    let client = reqwest::Client::new();
    let (status, body) = login(&client, &auth, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");

    for round in 0..2 {
        // Returns once the new redis-server accepts connections; nothing was asked of it meanwhile.
        redis.restart().expect("redis-server restarts");
        let (status, body) = login(&client, &auth, ADMIN_PASSWORD).await;
        assert_eq!(
            status, 200,
            "round {round}: the first request after the restart: {body}"
        );
        let (access, refresh) = tokens(&body);
        let (status, body) = post(
            &client,
            auth.url("/auth/refresh"),
            json!({"refreshToken": refresh}),
        )
        .await;
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(me(&client, &auth, &access).await.0, 200, "round {round}");
    }
}

/// The `Retry-After` (s) of a refused login on `replica`.
async fn locked_for(replica: &TestApp) -> i64 {
    let res = replica
        .client
        .post(replica.url("/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    res.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

/// Two replicas in this process on one Redis, each with its own connection and its own clock, one of
/// them 30 s ahead: every shared decision takes the store's time, so they behave as one.
#[tokio::test]
async fn replicas_with_skewed_clocks_agree_on_logout_all_the_grace_and_locks() {
    let prefix = unique_prefix();
    let a = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let b = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    b.clock.skew_secs(30);
    let both = [&a, &b];

    // Logout-all on either ends the sessions started just before on both, and a login right after,
    // on either, is not born revoked.
    for (ender, other) in [(&b, &a), (&a, &b)] {
        let (on_other, _) = other.login_tokens().await;
        let (on_ender, _) = ender.login_tokens().await;
        for replica in both {
            assert_eq!(replica.get_me(&on_other).await.0, 200);
            assert_eq!(replica.get_me(&on_ender).await.0, 200);
        }
        let (status, body) = ender.post_bearer("/auth/logout-all", &on_ender).await;
        assert_eq!(status, 200, "{body}");
        for replica in both {
            for token in [&on_other, &on_ender] {
                let (status, body) = replica.get_me(token).await;
                assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
            }
        }
        for login_on in both {
            let (access, _) = login_on.login_tokens().await;
            for replica in both {
                let (status, body) = replica.get_me(&access).await;
                assert_eq!(status, 200, "{body}");
            }
        }
    }

    // The grace: a token rotated on one replica and replayed on the other inside it gets the same
    // pair; past it, the replay is reuse. Both ways round.
    for (rotator, replayer) in [(&a, &b), (&b, &a)] {
        let (_, r0) = rotator.login_tokens().await;
        let first = rotator.post_refresh(&r0).await;
        assert_eq!(first.0, 200, "{}", first.1);
        let again = replayer.post_refresh(&r0).await;
        assert_eq!(first, again, "the same pair, byte for byte");
        for replica in both {
            replica.clock.advance_secs(11);
        }
        let (status, body) = replayer.post_refresh(&r0).await;
        assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
        let (_, r1) = tokens(&first.1);
        let (status, body) = rotator.post_refresh(&r1).await;
        assert_eq!(
            (status, codigo(&body)),
            (401, "TOKEN_REVOKED"),
            "reuse ended the session: {body}"
        );
    }

    // Locks: failures on both count together, and both give the same Retry-After.
    for (i, replica) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        assert_eq!(replica.post_login(ADMIN, "wrong").await.0, 422, "failure {i}");
    }
    let (on_a, on_b) = (locked_for(&a).await, locked_for(&b).await);
    assert!((on_a - on_b).abs() <= 1, "Retry-After {on_a} on A, {on_b} on B");
}

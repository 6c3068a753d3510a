//! Rate limits and brute-force locks: checked before hashing, shared through the store, keyed by the
//! real client address.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::*;

async fn login_with_ip(
    app: &TestApp,
    username: &str,
    password: &str,
    forwarded_for: &str,
) -> (u16, serde_json::Value, Option<String>) {
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(res).await;
    (status, body, retry_after)
}

#[tokio::test]
async fn the_sixth_failed_login_is_429_with_retry_after_and_the_lock_holds_for_the_right_password() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
    let (status, body, retry_after) = login_with_ip(&app, ADMIN, "wrong", "").await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"));
    assert_eq!(body["mensaje"], "Demasiadas solicitudes");
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&secs), "{secs}");
    // Locked: the right password gets 429 too, and nothing is hashed.
    let before = app.app.passwords.hashes_run();
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    assert_eq!(app.app.passwords.hashes_run(), before);
    // Another account is not affected.
    assert_eq!(app.post_login(MARIA, MARIA_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn usernames_that_do_not_exist_are_locked_the_same_way() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        assert_eq!(app.post_login("ghost", "x").await.0, 422);
    }
    let (status, body) = app.post_login("ghost", "x").await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"));
}

#[tokio::test]
async fn the_lock_ends_when_the_window_passes_never_for_ever() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for _ in 0..6 {
        app.post_login(ADMIN, "wrong").await;
    }
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    app.clock.advance_secs(899);
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    app.clock.advance_secs(2);
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_short_configured_window_ends_the_lock_on_redis_too() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_LOGIN_WINDOW_SECONDS", "1")]).await;
    for _ in 0..6 {
        app.post_login(ADMIN, "wrong").await;
    }
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_success_clears_the_failures() {
    let app = TestApp::spawn().await;
    for _ in 0..4 {
        app.post_login(ADMIN, "wrong").await;
    }
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 200);
    for _ in 0..4 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
}

#[tokio::test]
async fn a_flood_of_200_logins_for_one_user_runs_at_most_the_allowed_hashes() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_IP_PER_MINUTE", "100000")]).await;
    let before = app.app.passwords.hashes_run();
    let results = join_all((0..200).map(|_| app.post_login(ADMIN, "wrong"))).await;
    let hashed = app.app.passwords.hashes_run() - before;
    assert!(hashed <= 5, "{hashed} argon2 runs for one locked account");
    assert_eq!(results.iter().filter(|(s, _)| *s == 422).count() as u64, hashed);
    assert!(results.iter().all(|(s, _)| *s == 422 || *s == 429));
}

#[tokio::test]
async fn the_ip_ceiling_counts_the_forwarded_client_only_behind_a_trusted_proxy() {
    let trusted = TestApp::spawn_with(
        StoreKind::Redis,
        &[
            ("RATE_LIMIT_IP_PER_MINUTE", "3"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            login_with_ip(&trusted, "ghost1", "x", "198.51.100.1").await.0,
            422
        );
    }
    let (status, _, retry_after) = login_with_ip(&trusted, "ghost2", "x", "198.51.100.1").await;
    assert_eq!(status, 429, "the fourth request from one client in a minute");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() <= 60);
    assert_eq!(
        login_with_ip(&trusted, "ghost3", "x", "198.51.100.2").await.0,
        422,
        "another client"
    );

    // Without a trusted proxy the header is ignored: it cannot be used to dodge the limit.
    let direct = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_IP_PER_MINUTE", "3")]).await;
    for i in 0..3 {
        assert_eq!(
            login_with_ip(&direct, "ghost", "x", &format!("203.0.113.{i}"))
                .await
                .0,
            422
        );
    }
    assert_eq!(login_with_ip(&direct, "other", "x", "203.0.113.99").await.0, 429);
}

#[tokio::test]
async fn refresh_and_gettoken_are_limited_per_ip_too() {
    // Three requests a minute: a login, a refresh, a garbage refresh; then everything is 429.
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_IP_PER_MINUTE", "3")]).await;
    let (_, refresh) = app.login_tokens().await;
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!(status, 200, "{body}");
    let (_, next) = tokens(&body);
    assert_eq!(app.post_refresh("garbage").await.0, 401);
    let (status, body) = app.post_refresh("garbage").await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"));
    let (status, body) = app.post_refresh(&next).await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"), "a good token too");

    let res = app
        .client
        .post(app.url("/v2/auth/gettoken"))
        .json(&json!({"username": "admin@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "saphety"}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let (status, body) = read(res).await;
    assert_eq!(status, 429);
    assert_eq!(body["ResultCode"], 429);
    assert_eq!(body["Errors"][0]["Code"], "TooManyRequests");
}

#[tokio::test]
async fn gettoken_failures_lock_the_account_like_login_failures() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.post_login(ADMIN, "wrong").await;
    }
    for _ in 0..2 {
        let res = app
            .client
            .post(app.url("/v2/auth/gettoken"))
            .json(
                &json!({"username": "admin@example.com", "password": "wrong", "virtual_operator": "saphety"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
    }
    assert_eq!(
        app.post_login(ADMIN, ADMIN_PASSWORD).await.0,
        429,
        "five failures across both endpoints"
    );
}

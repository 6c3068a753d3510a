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
async fn a_flood_of_200_wrong_logins_runs_at_most_max_failures_plus_concurrency_hashes() {
    let app = TestApp::spawn_with(
        StoreKind::Redis,
        &[
            ("RATE_LIMIT_IP_PER_MINUTE", "100000"),
            ("PASSWORD_HASH_CONCURRENCY", "3"),
        ],
    )
    .await;
    let before = app.app.passwords.hashes_run();
    let results = join_all((0..200).map(|_| app.post_login(ADMIN, "wrong"))).await;
    let hashed = app.app.passwords.hashes_run() - before;
    assert!(hashed <= 5 + 3, "{hashed} argon2 runs for one locked account");
    assert_eq!(results.iter().filter(|(s, _)| *s == 422).count() as u64, hashed);
    assert!(results.iter().all(|(s, _)| *s == 422 || *s == 429));
    // The lock then holds for the right password too, and hashes nothing.
    let before = app.app.passwords.hashes_run();
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    assert_eq!(app.app.passwords.hashes_run(), before);
}

async fn gettoken(app: &TestApp, email: &str, password: &str) -> (u16, serde_json::Value) {
    app.post_json(
        "/v2/auth/gettoken",
        json!({"username": email, "password": password, "virtual_operator": "saphety"}),
    )
    .await
}

/// 50 logins and 50 gettokens of one account with the right password, all at once.
async fn fifty_parallel_correct_logins_all_succeed(kind: StoreKind) {
    let app = TestApp::spawn_with(kind, &[("RATE_LIMIT_IP_PER_MINUTE", "100000")]).await;
    let logins = join_all((0..50).map(|_| app.post_login(ADMIN, ADMIN_PASSWORD))).await;
    let statuses: Vec<u16> = logins.iter().map(|(s, _)| *s).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let saphety = join_all((0..50).map(|_| gettoken(&app, "admin@example.com", ADMIN_PASSWORD))).await;
    let statuses: Vec<u16> = saphety.iter().map(|(s, _)| *s).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // And with four failures already counted, still none of them is refused.
    for _ in 0..4 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
    let logins = join_all((0..50).map(|_| app.post_login(ADMIN, ADMIN_PASSWORD))).await;
    assert!(logins.iter().all(|(s, _)| *s == 200));
}

#[tokio::test]
async fn fifty_parallel_correct_logins_of_one_account_all_succeed_on_redis() {
    fifty_parallel_correct_logins_all_succeed(StoreKind::Redis).await;
}

#[tokio::test]
async fn fifty_parallel_correct_logins_of_one_account_all_succeed_on_the_embedded_store() {
    fifty_parallel_correct_logins_all_succeed(StoreKind::Memory).await;
}

#[tokio::test]
async fn fifty_parallel_correct_logins_across_two_replicas_all_succeed() {
    use crate::process::start_auth;
    let prefix = unique_prefix();
    let vars = |_: u8| -> Vec<(&str, String)> {
        vec![
            ("JWT_SECRET", SECRET.to_string()),
            ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
            ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
            ("REDIS_URL", redis_url()),
            ("REDIS_KEY_PREFIX", prefix.clone()),
            ("RATE_LIMIT_IP_PER_MINUTE", "100000".to_string()),
        ]
    };
    let (a, b) = (start_auth(&vars(0)), start_auth(&vars(1)));
    let client = reqwest::Client::new();
    let body = json!({"username": ADMIN, "password": ADMIN_PASSWORD});
    let results = join_all((0..50).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/auth/login")
        } else {
            b.url("/auth/login")
        };
        client.post(url).json(&body).send()
    }))
    .await;
    let statuses: Vec<u16> = results
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn retry_after_is_the_time_left_on_the_lock_that_refused() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for _ in 0..5 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
    app.clock.advance_secs(300);
    let (status, _, retry_after) = login_with_ip(&app, ADMIN, ADMIN_PASSWORD, "").await;
    assert_eq!(status, 429);
    let secs: u64 = retry_after.unwrap().parse().unwrap();
    assert_eq!(secs, 600, "900 s window, 300 s gone");

    // On Redis the window is the key's own TTL.
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_LOGIN_WINDOW_SECONDS", "120")]).await;
    for _ in 0..5 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
    let (status, _, retry_after) = login_with_ip(&app, ADMIN, ADMIN_PASSWORD, "").await;
    assert_eq!(status, 429);
    let secs: u64 = retry_after.unwrap().parse().unwrap();
    assert!((118..=120).contains(&secs), "{secs}");
}

/// What one spelling after five failures with another gets: status, `codigo` and `Retry-After`.
async fn after_five_failures(kind: StoreKind, first: &str, then: &str) -> (u16, String, Option<String>) {
    let app = TestApp::spawn_with(kind, &[]).await;
    for _ in 0..5 {
        assert_eq!(app.post_login(first, "wrong-password").await.0, 422);
    }
    let (status, body, retry_after) = login_with_ip(&app, then, "wrong-password", "").await;
    (status, codigo(&body).to_string(), retry_after)
}

#[tokio::test]
async fn the_lock_answers_alike_for_known_and_unknown_names_in_every_spelling() {
    // MARIA exists (as "maria"), PEDRO does not; each spelling of one is the same spelling of the other.
    let spellings = |base: &str| {
        vec![
            base.to_string(),
            base.to_uppercase(),
            format!("  {base} "),
            base.chars()
                .map(|c| char::from_u32(c as u32 - 'a' as u32 + 0xff41).unwrap())
                .collect::<String>(),
            base.replacen('a', "\u{430}", 1).replacen('e', "\u{435}", 1),
        ]
    };
    let (known, unknown) = (spellings("maria"), spellings("pedro"));
    for kind in [StoreKind::Memory, StoreKind::Redis] {
        for i in [0, 1, 3] {
            for j in 0..known.len() {
                let k = after_five_failures(kind, &known[i], &known[j]).await;
                let u = after_five_failures(kind, &unknown[i], &unknown[j]).await;
                assert_eq!(
                    (k.0, &k.1, k.2.is_some()),
                    (u.0, &u.1, u.2.is_some()),
                    "{kind:?}: {:?} then {:?} vs {:?} then {:?}",
                    known[i],
                    known[j],
                    unknown[i],
                    unknown[j]
                );
                let same_name = j != 4;
                assert_eq!(
                    k.0,
                    if same_name { 429 } else { 422 },
                    "{:?} then {:?}",
                    known[i],
                    known[j]
                );
            }
        }
    }
}

#[tokio::test]
async fn gettoken_locks_known_and_unknown_e_mails_alike() {
    let app = TestApp::spawn().await;
    for (email, then) in [
        ("admin@example.com", " ADMIN@Example.COM"),
        ("ghost@example.com", " GHOST@EXAMPLE.COM "),
    ] {
        for _ in 0..5 {
            assert_eq!(gettoken(&app, email, "wrong").await.0, 400);
        }
        let (status, body) = gettoken(&app, then, "wrong").await;
        assert_eq!(
            (status, &body["Errors"][0]["Code"]),
            (429, &json!("TooManyRequests")),
            "{then}"
        );
    }
    // Locked: the right password too.
    assert_eq!(gettoken(&app, "admin@example.com", ADMIN_PASSWORD).await.0, 429);
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
async fn the_lock_is_per_identifier_so_it_cannot_tell_which_e_mail_belongs_to_which_username() {
    // Failures at /auth/login count against the username as typed; gettoken's against the e-mail. A
    // known user's two identifiers are not linked: linking them would answer differently for a known
    // username than for an unknown one, and tell an attacker which e-mail an account has.
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        assert_eq!(app.post_login(ADMIN, "wrong").await.0, 422);
    }
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 429);
    assert_eq!(gettoken(&app, "admin@example.com", "wrong").await.0, 400);
    assert_eq!(gettoken(&app, "admin@example.com", ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_username_spelled_like_another_users_email_does_not_share_her_lock() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.login_tokens().await;
    let password = "una clave bastante larga 2026";
    for (username, email) in [("b@x.io", "a@x.io"), ("bea", "b@x.io")] {
        let res = app
            .client
            .post(app.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&json!({"username": username, "email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(read(res).await.0, 201);
    }
    // Five wrong gettokens for Bea's e-mail lock her gettoken...
    let gettoken = |password: &str| {
        app.client
            .post(app.url("/v2/auth/gettoken"))
            .json(&json!({"username": "b@x.io", "password": password, "virtual_operator": "saphety"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(gettoken("wrong").await.unwrap().status().as_u16(), 400);
    }
    assert_eq!(gettoken(password).await.unwrap().status().as_u16(), 429);
    // ...and not the other user whose username is spelled like it, whose right password does not
    // unlock her (before, one counter served both: his logins reset her lock, and her failures
    // locked him).
    assert_eq!(app.post_login("b@x.io", password).await.0, 200);
    assert_eq!(gettoken(password).await.unwrap().status().as_u16(), 429);
}

#[tokio::test]
async fn a_client_that_hangs_up_while_its_password_is_hashed_is_still_counted() {
    let app = TestApp::spawn().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(10))
        .build()
        .unwrap();
    let before = app.app.passwords.hashes_run();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Five wrong passwords whose hash started, each from a client gone before it ended (a request
    // dropped before its hash starts is neither hashed nor counted, which is fine). Before, the
    // request's future was dropped with the hash in flight and the failure was never recorded.
    while app.app.passwords.hashes_run() < before + 5 {
        assert!(std::time::Instant::now() < deadline, "no hash started");
        let res = impatient
            .post(app.url("/auth/login"))
            .json(&json!({"username": MARIA, "password": "guess"}))
            .send()
            .await;
        assert!(res.is_err(), "the client gave up before the hash ended: {res:?}");
    }
    // A request the client dropped just as the fifth hash started may still start a sixth (the server
    // had not yet got to it when the loop looked): at least five, each counted.
    assert!(app.app.passwords.hashes_run() >= before + 5);
    // Each hash's failure is recorded when it ends, client or no client.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"), "{body}");
}

//! Login: the seed's flow and shape, and failures that all look the same.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_seeds_four_steps_work_against_the_running_server() {
    let app = TestApp::spawn().await;

    // 1. Login, with the seed's exact response shape.
    let (status, body) = app.post_login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["exito"], true);
    assert_eq!(body["mensaje"], "Autenticación exitosa");
    let datos = body["datos"].as_object().unwrap();
    let mut keys: Vec<&str> = datos.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["accessToken", "expiresIn", "refreshToken", "tokenType", "user"]
    );
    assert_eq!(datos["tokenType"], "Bearer");
    assert_eq!(datos["expiresIn"], 3600);
    assert_eq!(
        datos["user"],
        json!({"id": 1, "username": ADMIN, "email": "admin@example.com", "rol": "admin"})
    );
    let (access, refresh) = tokens(&body);

    // 2. Authenticated request.
    let (status, me) = app.get_me(&access).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["datos"]["username"], ADMIN);

    // 3. No token.
    let res = app.client.get(app.url("/auth/me")).send().await.unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_MISSING"));
    assert_eq!(body["mensaje"], "Token no proporcionado");

    // 4. Refresh gives a new refresh token.
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["exito"], true);
    let (new_access, new_refresh) = tokens(&body);
    assert_ne!(new_refresh, refresh);
    assert_eq!(body["datos"]["tokenType"], "Bearer");
    assert_eq!(body["datos"]["expiresIn"], 3600);
    assert_eq!(app.get_me(&new_access).await.0, 200);
}

#[tokio::test]
async fn token_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn wrong_password_unknown_user_disabled_user_and_empty_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let wrong = app.post_login(ADMIN, "not the password").await;
    assert_eq!(wrong.0, 422);
    assert_eq!(codigo(&wrong.1), "INVALID_CREDENTIALS");
    assert_eq!(wrong.1["mensaje"], "Credenciales inválidas");
    let before = app.app.passwords.hashes_run();
    for (user, password) in [
        ("nobody-at-all", ADMIN_PASSWORD),
        (BLOCKED, BLOCKED_PASSWORD),
        (ADMIN, ""),
        ("", ""),
    ] {
        assert_eq!(app.post_login(user, password).await, wrong, "{user}/{password}");
    }
    // Every one of those cost one argon2 verification, like the wrong password did.
    assert_eq!(app.app.passwords.hashes_run() - before, 4);
}

#[tokio::test]
async fn users_from_the_users_file_log_in_with_their_role() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datos"]["user"]["rol"], "usuario");
    assert_eq!(body["datos"]["user"]["id"], 2);
}

#[tokio::test]
async fn passwords_are_accepted_whole_up_to_128_characters_and_refused_beyond_before_hashing() {
    let long: String = "ñ".repeat(127) + "x";
    let app = TestApp::spawn_with(StoreKind::Memory, &[("API_PASSWORD", &long)]).await;
    assert_eq!(app.post_login(ADMIN, &long).await.0, 200);
    // Not truncated: the 127-character prefix is a different password.
    assert_eq!(app.post_login(ADMIN, &long[..long.len() - 1]).await.0, 422);

    let before = app.app.passwords.hashes_run();
    let (status, body) = app.post_login(ADMIN, &(long.clone() + "y")).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"));
    assert!(body["detalle"].as_str().unwrap().contains("password"));
    assert_eq!(
        app.app.passwords.hashes_run(),
        before,
        "no hash for an over-long password"
    );
}

#[tokio::test]
async fn login_fields_are_validated_by_name() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let (status, body) = app.post_json("/auth/login", json!({"username": ADMIN})).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"));
    assert!(body["detalle"].as_str().unwrap().contains("password"));
    let (status, body) = app
        .post_json("/auth/login", json!({"username": 7, "password": "x"}))
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"));
    assert!(body["detalle"].as_str().unwrap().contains("username"));
}

#[tokio::test]
async fn the_store_being_unreachable_fails_closed_with_503() {
    // Nothing listens on port 1: every store call fails.
    let app = TestApp::spawn_with(StoreKind::Redis, &[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let (status, body) = app.post_login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!((status, codigo(&body)), (503, "SERVICE_UNAVAILABLE"));
    assert!(body.get("datos").is_none(), "no token without the store: {body}");

    // A perfectly signed access token is not accepted unchecked either.
    let now = app.clock.now_secs();
    let token = forge(
        &hs256_header(SECRET),
        &access_claims(now),
        SECRET,
        jsonwebtoken::Algorithm::HS256,
    );
    let (status, body) = app.get_me(&token).await;
    assert_eq!((status, codigo(&body)), (503, "SERVICE_UNAVAILABLE"));
    let (status, _) = app.post_json("/auth/introspect", json!({"token": token})).await;
    assert_eq!(status, 503);

    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn ready_reports_the_store_it_checked() {
    for (kind, name) in [(StoreKind::Redis, "redis"), (StoreKind::Memory, "memory")] {
        let app = TestApp::spawn_with(kind, &[]).await;
        let res = app.client.get(app.url("/ready")).send().await.unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, 200);
        assert_eq!(body["datos"]["store"], name);
    }
}

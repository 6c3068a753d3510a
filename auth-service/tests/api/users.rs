//! Users managed live: the admin API across replicas, password changes, set-password tokens, the
//! embedded store kept in a file, the operators' CLI, the audit trail, and bad input everywhere.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{
    codigo, read, redis_url, tokens, unique_prefix, StoreKind, TestApp, ADMIN, ADMIN_PASSWORD, MARIA,
    MARIA_PASSWORD, MFA_KEY, SECRET,
};
use crate::process::{start_auth, ServiceProcess};

const STRONG: &str = "a long enough new password 42";

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    read(req.send().await.unwrap()).await
}

/// The admin's access token on `app`.
async fn admin_token(app: &TestApp) -> String {
    app.login_tokens().await.0
}

impl TestApp {
    async fn admin(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let req = self
            .client
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        send(match body {
            Some(b) => req.json(&b),
            None => req,
        })
        .await
    }
}

fn process_vars(prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("MFA_ENCRYPTION_KEY", MFA_KEY.to_string()),
        ("REDIS_URL", redis_url()),
        ("REDIS_KEY_PREFIX", prefix.to_string()),
        ("LOG_FORMAT", "json".to_string()),
    ]
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> (u16, Value) {
    let req = client.post(url).json(&body);
    send(match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    })
    .await
}

async fn login_on(client: &reqwest::Client, p: &ServiceProcess, user: &str, pw: &str) -> (u16, Value) {
    post(
        client,
        p.url("/auth/login"),
        None,
        json!({"username": user, "password": pw}),
    )
    .await
}

/// The scenario on two real processes sharing one Redis.
#[tokio::test]
async fn two_processes_see_every_user_change_at_once() {
    let prefix = unique_prefix();
    let a = start_auth(&process_vars(&prefix));
    let b = start_auth(&process_vars(&prefix));
    let client = reqwest::Client::new();

    let (_, body) = login_on(&client, &a, ADMIN, ADMIN_PASSWORD).await;
    let admin_a = tokens(&body).0;
    // Created on A ...
    let (status, body) = post(
        &client,
        a.url("/admin/users"),
        Some(&admin_a),
        json!({"username": "lucia", "email": "lucia@example.com", "password": STRONG}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["datos"]["user"]["rol"], "usuario");
    assert_eq!(body["datos"]["user"]["password_set"], true);
    assert!(body["datos"].get("setPasswordToken").is_none());
    let id = body["datos"]["user"]["id"].as_u64().unwrap();
    // ... logs in on B.
    let (status, body) = login_on(&client, &b, "lucia", STRONG).await;
    assert_eq!(status, 200, "{body}");
    let (lucia_access, lucia_refresh) = tokens(&body);

    // Disabled on B ...
    let (_, body) = login_on(&client, &b, ADMIN, ADMIN_PASSWORD).await;
    let admin_b = tokens(&body).0;
    let (status, body) = send(
        client
            .patch(b.url(&format!("/admin/users/{id}")))
            .bearer_auth(&admin_b)
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!((status, &body["datos"]["active"]), (200, &json!(false)), "{body}");
    // ... their refresh and /auth/me fail on A at once, and they cannot log in anywhere.
    let (status, body) = send(client.get(a.url("/auth/me")).bearer_auth(&lucia_access)).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
    let (status, body) = post(
        &client,
        a.url("/auth/refresh"),
        None,
        json!({"refreshToken": lucia_refresh}),
    )
    .await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
    let (status, body) = login_on(&client, &a, "lucia", STRONG).await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"), "{body}");

    // Enabled again on A: logs in on B; the old session stays ended.
    let (status, _) = send(
        client
            .patch(a.url(&format!("/admin/users/{id}")))
            .bearer_auth(&admin_a)
            .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = login_on(&client, &b, "lucia", STRONG).await;
    assert_eq!(status, 200, "{body}");
    let (phone_access, phone_refresh) = tokens(&body);
    let (status, _) = send(client.get(a.url("/auth/me")).bearer_auth(&lucia_access)).await;
    assert_eq!(status, 401);

    // A password change on A ends the other sessions (B's, at once) and hands this client a pair.
    let (_, body) = login_on(&client, &a, "lucia", STRONG).await;
    let laptop_access = tokens(&body).0;
    let new_password = "another long password 77";
    let (status, body) = post(
        &client,
        a.url("/auth/password"),
        Some(&laptop_access),
        json!({"currentPassword": STRONG, "newPassword": new_password}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (fresh_access, _) = tokens(&body);
    let (status, body) = send(client.get(b.url("/auth/me")).bearer_auth(&phone_access)).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
    let (status, _) = post(
        &client,
        b.url("/auth/refresh"),
        None,
        json!({"refreshToken": phone_refresh}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(client.get(a.url("/auth/me")).bearer_auth(&laptop_access)).await;
    assert_eq!(
        status, 401,
        "the session that asked ends too; its fresh pair replaces it"
    );
    let (status, body) = send(client.get(b.url("/auth/me")).bearer_auth(&fresh_access)).await;
    assert_eq!((status, &body["datos"]["username"]), (200, &json!("lucia")));
    assert_eq!(
        login_on(&client, &b, "lucia", STRONG).await.0,
        422,
        "the old password is gone"
    );
    assert_eq!(login_on(&client, &b, "lucia", new_password).await.0, 200);

    // A usuario calling the admin API: 403, on either process.
    for p in [&a, &b] {
        let (status, body) = send(client.get(p.url("/admin/users")).bearer_auth(&fresh_access)).await;
        assert_eq!((status, codigo(&body)), (403, "FORBIDDEN"), "{body}");
    }

    // The audit trail: one JSON line per admin action, with actor, target and request id.
    let logs: Vec<Value> = a
        .logs()
        .iter()
        .chain(b.logs().iter())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let audit: Vec<&Value> = logs.iter().filter(|l| l["target"] == "audit").collect();
    let created = audit
        .iter()
        .find(|l| l["event"] == "user_created")
        .unwrap_or_else(|| panic!("no user_created line: {audit:?}"));
    assert_eq!(created["target_user"], id.to_string());
    assert_eq!(created["actor"], "1");
    assert!(
        created["request_id"].as_str().is_some_and(|r| r.len() > 8),
        "{created}"
    );
    for event in ["user_disabled", "user_enabled", "password_changed"] {
        assert!(
            audit.iter().any(|l| l["event"] == event),
            "no {event} line: {audit:?}"
        );
    }
    // None of the passwords or tokens handed out is in any log line.
    for line in a.logs().iter().chain(b.logs().iter()) {
        for secret in [STRONG, new_password, &lucia_access, &fresh_access, &admin_a] {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_username_make_exactly_one_201() {
    let prefix = unique_prefix();
    let a = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let b = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let (ta, tb) = (admin_token(&a).await, admin_token(&b).await);
    let attempts = (0..16).map(|i| {
        let (app, token) = if i % 2 == 0 { (&a, &ta) } else { (&b, &tb) };
        async move {
            app.admin(
                "POST",
                "/admin/users",
                token,
                Some(json!({"username": "Pablo", "email": format!("pablo{i}@example.com")})),
            )
            .await
        }
    });
    let outcomes = join_all(attempts).await;
    let created = outcomes.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = outcomes
        .iter()
        .filter(|(s, b)| *s == 409 && codigo(b) == "CONFLICT")
        .count();
    assert_eq!((created, conflicts), (1, 15), "{outcomes:?}");
    // Under the login's normalisation, "pablo" is taken too.
    let (status, _) = a
        .admin(
            "POST",
            "/admin/users",
            &ta,
            Some(json!({"username": "PABLO", "email": "x@example.com"})),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_set_password_token_works_once() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let (status, body) = app
        .admin(
            "POST",
            "/admin/users",
            &admin,
            Some(json!({"username": "nuevo", "email": "nuevo@example.com", "rol": "admin", "virtual_operator": "acme"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["datos"]["user"]["password_set"], false);
    assert_eq!(body["datos"]["expiresIn"], 72 * 3600);
    let token = body["datos"]["setPasswordToken"].as_str().unwrap().to_string();
    // No password yet: no login, and the same answer as a wrong password.
    let (status, body) = app.post_login("nuevo", "").await;
    assert_eq!((status, codigo(&body)), (422, "INVALID_CREDENTIALS"));

    let set = |token: &str, pw: &str| json!({"token": token, "newPassword": pw});
    // A weak password is refused naming the rule, and does not spend the token.
    let (status, body) = app.post_json("/auth/password/set", set(&token, "short")).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    assert!(body["detalle"].as_str().unwrap().contains("min_length"), "{body}");
    let (status, body) = app
        .post_json("/auth/password/set", set(&token, "password1234"))
        .await;
    assert!(
        body["detalle"].as_str().unwrap().contains("common_password"),
        "{status} {body}"
    );
    // A forged secret for the same user: refused.
    let forged = format!("{}.{}", token.split('.').next().unwrap(), "A".repeat(43));
    let (status, body) = app.post_json("/auth/password/set", set(&forged, STRONG)).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    for bad in ["", "nope", "99.abc", "1.", ".x"] {
        let (status, body) = app.post_json("/auth/password/set", set(bad, STRONG)).await;
        assert_eq!(
            (status, codigo(&body)),
            (422, "VALIDATION_ERROR"),
            "{bad}: {body}"
        );
    }
    // The real one, once.
    let (status, body) = app.post_json("/auth/password/set", set(&token, STRONG)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post_json("/auth/password/set", set(&token, "yet another password 1"))
        .await;
    assert_eq!(
        (status, codigo(&body)),
        (422, "VALIDATION_ERROR"),
        "a used token: {body}"
    );
    let (status, body) = app.post_login("nuevo", STRONG).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["datos"]["user"]["rol"], "admin");

    // An admin reset without a password clears it and ends the sessions; a newer token replaces an
    // older one.
    let (access, _) = tokens(&body);
    let id = body["datos"]["user"]["id"].as_u64().unwrap();
    let path = format!("/admin/users/{id}/password");
    let (_, first) = app.admin("POST", &path, &admin, Some(json!({}))).await;
    let (status, second) = app.admin("POST", &path, &admin, Some(json!({}))).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(app.get_me(&access).await.0, 401, "sessions ended");
    assert_eq!(app.post_login("nuevo", STRONG).await.0, 422, "password cleared");
    let old = first["datos"]["setPasswordToken"].as_str().unwrap();
    assert_eq!(app.post_json("/auth/password/set", set(old, STRONG)).await.0, 422);
    let new = second["datos"]["setPasswordToken"].as_str().unwrap();
    assert_eq!(app.post_json("/auth/password/set", set(new, STRONG)).await.0, 200);
    // With a password: set directly, sessions ended.
    let (access, _) = app.login_tokens_as("nuevo", STRONG).await;
    let (status, body) = app
        .admin(
            "POST",
            &path,
            &admin,
            Some(json!({"password": "set by the admin 2026"})),
        )
        .await;
    assert_eq!(
        (status, &body["datos"]["password_set"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(app.get_me(&access).await.0, 401);
    assert_eq!(app.post_login("nuevo", "set by the admin 2026").await.0, 200);
}

#[tokio::test]
async fn admins_list_look_up_change_unlock_and_end_sessions() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_LOGIN_MAX_FAILURES", "2")]).await;
    let admin = admin_token(&app).await;

    let (status, body) = app.admin("GET", "/admin/users", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["datos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [ADMIN, MARIA, "bloqueado", "ops"],
        "the configured users, by id"
    );
    assert!(body.to_string().find("argon2").is_none(), "never a hash");
    let (_, page) = app
        .admin("GET", "/admin/users?after=1&limit=2", &admin, None)
        .await;
    let ids: Vec<u64> = page["datos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3]);

    let (status, body) = app.admin("GET", "/admin/users/2", &admin, None).await;
    assert_eq!((status, &body["datos"]["username"]), (200, &json!(MARIA)));
    let (status, body) = app.admin("GET", "/admin/users/999", &admin, None).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"));

    // Another role ends the user's sessions; their next login carries the new role.
    let (maria_access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let (status, body) = app
        .admin(
            "PATCH",
            "/admin/users/2",
            &admin,
            Some(json!({"rol": "admin", "email": "maria.b@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get_me(&maria_access).await.0, 401);
    let (status, body) = app.post_login(MARIA, MARIA_PASSWORD).await;
    assert_eq!((status, &body["datos"]["user"]["rol"]), (200, &json!("admin")));
    assert_eq!(body["datos"]["user"]["email"], "maria.b@example.com");
    // Another e-mail or operator alone keeps the sessions.
    let (maria_access, maria_refresh) = tokens(&body);
    let (status, _) = app
        .admin(
            "PATCH",
            "/admin/users/2",
            &admin,
            Some(json!({"virtual_operator": "acme"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get_me(&maria_access).await.0, 200);
    // ... and the refreshed access token carries what the store says now.
    let (status, _) = app
        .admin(
            "PATCH",
            "/admin/users/2",
            &admin,
            Some(json!({"email": "maria.c@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.post_refresh(&maria_refresh).await;
    let refreshed = tokens(&body).0;
    assert_eq!(
        crate::helpers::claims_of(&refreshed)["email"],
        "maria.c@example.com"
    );

    // Logout-all for a user.
    let (status, _) = app.admin("POST", "/admin/users/2/logout-all", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(app.get_me(&refreshed).await.0, 401);

    // Unlock: two failures lock the account (for every spelling); unlock opens it.
    for _ in 0..2 {
        assert_eq!(app.post_login(MARIA, "wrong password").await.0, 422);
    }
    assert_eq!(app.post_login(MARIA, MARIA_PASSWORD).await.0, 429);
    let (status, _) = app.admin("POST", "/admin/users/2/unlock", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(app.post_login(MARIA, MARIA_PASSWORD).await.0, 200);

    // An admin cannot disable or demote themself.
    for change in [json!({"active": false}), json!({"rol": "usuario"})] {
        let (status, body) = app.admin("PATCH", "/admin/users/1", &admin, Some(change)).await;
        assert_eq!((status, codigo(&body)), (409, "CONFLICT"), "{body}");
    }
    assert_eq!(app.get_me(&admin).await.0, 200);
}

#[tokio::test]
async fn bad_input_to_every_admin_endpoint_gets_the_envelope() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let (usuario, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let expect = |label: &str, got: (u16, Value), status: u16, code: &str| {
        assert_eq!((got.0, codigo(&got.1)), (status, code), "{label}: {}", got.1);
        assert_eq!(got.1["exito"], false, "{label}");
    };
    let endpoints = [
        ("GET", "/admin/users"),
        ("POST", "/admin/users"),
        ("GET", "/admin/users/2"),
        ("PATCH", "/admin/users/2"),
        ("POST", "/admin/users/2/password"),
        ("POST", "/admin/users/2/unlock"),
        ("POST", "/admin/users/2/logout-all"),
    ];
    for (method, path) in endpoints {
        let label = format!("{method} {path}");
        let body = (method != "GET").then(|| json!({}));
        let no_token = send(
            app.client
                .request(method.parse().unwrap(), app.url(path))
                .json(&json!({})),
        )
        .await;
        expect(&label, no_token, 401, "TOKEN_MISSING");
        expect(
            &label,
            app.admin(method, path, "garbage", body.clone()).await,
            401,
            "TOKEN_INVALID",
        );
        expect(
            &label,
            app.admin(method, path, &usuario, body).await,
            403,
            "FORBIDDEN",
        );
    }
    // Bodies that are not JSON, or JSON of the wrong shape.
    for (method, path) in [
        ("POST", "/admin/users"),
        ("PATCH", "/admin/users/2"),
        ("POST", "/admin/users/2/password"),
    ] {
        let label = format!("{method} {path}");
        let raw = send(
            app.client
                .request(method.parse().unwrap(), app.url(path))
                .bearer_auth(&admin)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
        expect(&label, raw, 400, "BAD_REQUEST");
        let wrong = app
            .admin(
                method,
                path,
                &admin,
                Some(json!({"password": 7, "rol": "jefe", "active": "yes"})),
            )
            .await;
        expect(&label, wrong, 422, "VALIDATION_ERROR");
        let unknown = app
            .admin(method, path, &admin, Some(json!({"is_admin": true})))
            .await;
        expect(&label, unknown, 422, "VALIDATION_ERROR");
    }
    let create = |body: Value| app.admin("POST", "/admin/users", &admin, Some(body));
    expect(
        "missing email",
        create(json!({"username": "x"})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "duplicate username",
        create(json!({"username": MARIA, "email": "new@example.com"})).await,
        409,
        "CONFLICT",
    );
    expect(
        "duplicate e-mail",
        create(json!({"username": "x1", "email": "MARIA@example.com"})).await,
        409,
        "CONFLICT",
    );
    expect(
        "bad username",
        create(json!({"username": "a b", "email": "ab@example.com"})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "non-ASCII username",
        create(json!({"username": "mаria", "email": "c@example.com"})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "bad e-mail",
        create(json!({"username": "x2", "email": "nope"})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "empty operator",
        create(json!({"username": "x3", "email": "x3@example.com", "virtual_operator": " "})).await,
        422,
        "VALIDATION_ERROR",
    );
    let weak = create(json!({"username": "x4", "email": "x4@example.com", "password": "qwerty"})).await;
    assert!(
        weak.1["detalle"].as_str().unwrap().contains("min_length"),
        "{}",
        weak.1
    );
    expect("weak password", weak, 422, "VALIDATION_ERROR");
    let long = "x".repeat(129);
    expect(
        "overlong password",
        create(json!({"username": "x5", "email": "x5@example.com", "password": long})).await,
        422,
        "VALIDATION_ERROR",
    );
    // Nothing was created by any of them.
    let (_, list) = app.admin("GET", "/admin/users?limit=500", &admin, None).await;
    assert_eq!(list["datos"].as_array().unwrap().len(), 4, "{list}");

    let patch = |body: Value| app.admin("PATCH", "/admin/users/2", &admin, Some(body));
    expect(
        "taken e-mail",
        patch(json!({"email": "ops@acme.example"})).await,
        409,
        "CONFLICT",
    );
    expect(
        "bad e-mail",
        patch(json!({"email": "@"})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "unknown user",
        app.admin(
            "PATCH",
            "/admin/users/999",
            &admin,
            Some(json!({"active": false})),
        )
        .await,
        404,
        "NOT_FOUND",
    );
    expect(
        "unknown user",
        app.admin("POST", "/admin/users/999/unlock", &admin, None).await,
        404,
        "NOT_FOUND",
    );
    expect(
        "unknown user",
        app.admin("POST", "/admin/users/999/logout-all", &admin, None)
            .await,
        404,
        "NOT_FOUND",
    );
    expect(
        "unknown user",
        app.admin("POST", "/admin/users/999/password", &admin, Some(json!({})))
            .await,
        404,
        "NOT_FOUND",
    );
    expect(
        "weak reset",
        app.admin(
            "POST",
            "/admin/users/2/password",
            &admin,
            Some(json!({"password": "password1234"})),
        )
        .await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "id not a number",
        app.admin("GET", "/admin/users/abc", &admin, None).await,
        404,
        "NOT_FOUND",
    );
    expect(
        "id too large",
        app.admin("GET", "/admin/users/99999999999999999999999", &admin, None)
            .await,
        404,
        "NOT_FOUND",
    );
    expect(
        "DELETE",
        app.admin("DELETE", "/admin/users/2", &admin, None).await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    for query in ["limit=0", "limit=501", "limit=x", "after=-1", "page=2"] {
        expect(
            query,
            app.admin("GET", &format!("/admin/users?{query}"), &admin, None)
                .await,
            422,
            "VALIDATION_ERROR",
        );
    }

    // Self-service: a wrong current password is a failed login; a weak new one names the rule.
    let change = |token: &str, body: Value| {
        let req = app
            .client
            .post(app.url("/auth/password"))
            .bearer_auth(token)
            .json(&body);
        send(req)
    };
    expect(
        "wrong current",
        change(
            &usuario,
            json!({"currentPassword": "nope", "newPassword": STRONG}),
        )
        .await,
        422,
        "INVALID_CREDENTIALS",
    );
    let weak = change(
        &usuario,
        json!({"currentPassword": MARIA_PASSWORD, "newPassword": "short"}),
    )
    .await;
    assert!(
        weak.1["detalle"].as_str().unwrap().contains("min_length"),
        "{}",
        weak.1
    );
    expect("weak new", weak, 422, "VALIDATION_ERROR");
    expect(
        "missing field",
        change(&usuario, json!({"newPassword": STRONG})).await,
        422,
        "VALIDATION_ERROR",
    );
    expect(
        "no token",
        send(app.client.post(app.url("/auth/password")).json(&json!({}))).await,
        401,
        "TOKEN_MISSING",
    );
    // Nothing changed: the session and the password still work.
    assert_eq!(app.get_me(&usuario).await.0, 200);
    assert_eq!(app.post_login(MARIA, MARIA_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn changing_ones_password_is_limited_like_a_login() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("RATE_LIMIT_LOGIN_MAX_FAILURES", "2")]).await;
    let (access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;
    let change = |current: &str| {
        app.client
            .post(app.url("/auth/password"))
            .bearer_auth(&access)
            .json(&json!({"currentPassword": current, "newPassword": STRONG}))
    };
    assert_eq!(send(change("wrong 1")).await.0, 422);
    assert_eq!(send(change("wrong 2")).await.0, 422);
    let (status, body) = send(change(MARIA_PASSWORD)).await;
    assert_eq!((status, codigo(&body)), (429, "RATE_LIMITED"), "{body}");
    // The lock is the login's: the login is locked too.
    assert_eq!(app.post_login(MARIA, MARIA_PASSWORD).await.0, 429);
}

/// The embedded-store restart: a created user and a revoked session survive, through the
/// real binary with `EMBEDDED_STORE_FILE`.
#[tokio::test]
async fn the_embedded_store_restarted_with_its_file_keeps_users_and_revocations() {
    let dir = std::env::temp_dir().join(format!("auth-embedded-{}", uuid::Uuid::new_v4()));
    let file = dir.join("store.redb");
    let vars = vec![
        ("JWT_SECRET", SECRET.to_string()),
        ("API_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("EMBEDDED_STORE_FILE", file.to_string_lossy().into_owned()),
        ("LOG_FORMAT", "json".to_string()),
    ];
    let client = reqwest::Client::new();
    let (revoked_access, live_refresh);
    {
        let p = start_auth(&vars);
        let (_, body) = login_on(&client, &p, ADMIN, ADMIN_PASSWORD).await;
        let admin = tokens(&body).0;
        let (status, body) = post(
            &client,
            p.url("/admin/users"),
            Some(&admin),
            json!({"username": "persistente", "email": "p@example.com", "password": STRONG}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (_, body) = login_on(&client, &p, "persistente", STRONG).await;
        revoked_access = tokens(&body).0;
        assert_eq!(
            post(&client, p.url("/auth/logout"), Some(&revoked_access), json!({}))
                .await
                .0,
            200
        );
        let (_, body) = login_on(&client, &p, "persistente", STRONG).await;
        live_refresh = tokens(&body).1;
    }
    // Dropped: the process is killed. A new one on the same file:
    let p = start_auth(&vars);
    let (status, body) = login_on(&client, &p, "persistente", STRONG).await;
    assert_eq!(status, 200, "the created user is still there: {body}");
    let (status, body) = send(client.get(p.url("/auth/me")).bearer_auth(&revoked_access)).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"), "{body}");
    let (status, body) = post(
        &client,
        p.url("/auth/refresh"),
        None,
        json!({"refreshToken": live_refresh}),
    )
    .await;
    assert_eq!(status, 200, "a live session is still live: {body}");
    assert!(file.exists());
    drop(p);
    let _ = std::fs::remove_dir_all(dir);
}

/// `auth-service users ...` against the Redis the service uses; its changes are seen by a running
/// replica at once, and its refusals exit 2 with a message.
#[tokio::test]
async fn the_cli_manages_users_in_the_configured_store() {
    let prefix = unique_prefix();
    let vars = process_vars(&prefix);
    let service = start_auth(&vars);
    let client = reqwest::Client::new();
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"));
        cmd.env_clear().args(args);
        for (k, v) in &vars {
            cmd.env(k, v);
        }
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            use std::io::Write;
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(
        &["users", "add", "carla", "carla@example.com", "--password-stdin"],
        Some(STRONG),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created user"), "{out}");
    assert!(
        !out.contains(STRONG) && !err.contains(STRONG),
        "never echoes the password"
    );
    assert_eq!(login_on(&client, &service, "carla", STRONG).await.0, 200);

    let (code, out, _) = cli(&["users", "list"], None);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains("carla\tcarla@example.com\tusuario\ttrue")),
        "{out}"
    );
    assert!(!out.contains("argon2"), "never a hash: {out}");

    let (_, body) = login_on(&client, &service, "carla", STRONG).await;
    let access = tokens(&body).0;
    let (code, _, err) = cli(&["users", "disable", "carla"], None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("user_disabled"), "the audit line, actor cli: {err}");
    assert_eq!(
        send(client.get(service.url("/auth/me")).bearer_auth(&access))
            .await
            .0,
        401
    );
    assert_eq!(login_on(&client, &service, "carla", STRONG).await.0, 422);
    assert_eq!(cli(&["users", "enable", "carla"], None).0, 0);
    assert_eq!(login_on(&client, &service, "carla", STRONG).await.0, 200);

    let (code, _, err) = cli(&["users", "set-password", "carla"], Some("cli password 2026!\n"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        login_on(&client, &service, "carla", "cli password 2026!").await.0,
        200
    );

    for _ in 0..5 {
        login_on(&client, &service, "carla", "wrong").await;
    }
    assert_eq!(
        login_on(&client, &service, "carla", "cli password 2026!").await.0,
        429
    );
    assert_eq!(cli(&["users", "unlock", "carla"], None).0, 0);
    assert_eq!(
        login_on(&client, &service, "carla", "cli password 2026!").await.0,
        200
    );

    let (code, out, _) = cli(&["users", "add", "dani", "dani@example.com"], None);
    assert_eq!(code, 0);
    assert!(out.contains("set-password token"), "{out}");

    // Refusals: exit 2 with a message, nothing changed.
    for (args, stdin, needle) in [
        (
            &["users", "add", "CARLA", "c2@example.com", "--password-stdin"][..],
            Some(STRONG),
            "username",
        ),
        (
            &["users", "add", "eva", "eva@example.com", "--password-stdin"],
            Some("short"),
            "min_length",
        ),
        (
            &["users", "add", "eva", "eva@example.com", "--rol", "jefe"],
            None,
            "rol",
        ),
        (&["users", "disable", "nadie"], None, "no such user"),
        (
            &["users", "set-password", "carla"],
            Some("password1234"),
            "common_password",
        ),
    ] {
        let (code, out, err) = cli(args, stdin);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        login_on(&client, &service, "carla", "cli password 2026!").await.0,
        200
    );
    // Without a store to change, the CLI refuses rather than change a throwaway memory.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .env_clear()
        .env("JWT_SECRET", SECRET)
        .env("API_PASSWORD", ADMIN_PASSWORD)
        .args(["users", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REDIS_URL"));
}

/// A configured user's entry applies again only when it changes: a live change stands across a
/// restart; an edited entry wins (and, weakening, ends the sessions).
#[tokio::test]
async fn configuration_applies_again_only_when_its_entry_changes() {
    let prefix = unique_prefix();
    let a = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    let admin = admin_token(&a).await;
    // A live change to a configured user (maria, from USERS_FILE).
    let (status, _) = a
        .admin(
            "PATCH",
            "/admin/users/2",
            &admin,
            Some(json!({"virtual_operator": "live"})),
        )
        .await;
    assert_eq!(status, 200);
    // A second replica (a restart) with the same configuration keeps it.
    let b = TestApp::spawn_on(StoreKind::Redis, &prefix, &[]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, body) = b.admin("GET", "/admin/users/2", &admin, None).await;
    assert_eq!(body["datos"]["virtual_operator"], "live", "{body}");
    // A new API_PASSWORD is an edited entry: applied, and the admin's sessions end.
    let c = TestApp::spawn_on(
        StoreKind::Redis,
        &prefix,
        &[("API_PASSWORD", "the new bootstrap password")],
    )
    .await;
    assert_eq!(c.post_login(ADMIN, "the new bootstrap password").await.0, 200);
    assert_eq!(c.get_me(&admin).await.0, 401, "sessions of the old password end");
    assert_eq!(c.post_login(ADMIN, ADMIN_PASSWORD).await.0, 422);
}

#[tokio::test]
async fn a_pending_set_password_token_dies_with_a_disable() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let (status, body) = app
        .admin(
            "POST",
            "/admin/users",
            &admin,
            Some(json!({"username": "pendiente", "email": "pendiente@example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["datos"]["user"]["id"].as_u64().unwrap();
    let token = body["datos"]["setPasswordToken"].as_str().unwrap().to_string();
    let path = format!("/admin/users/{id}");
    let (status, _) = app
        .admin("PATCH", &path, &admin, Some(json!({"active": false})))
        .await;
    assert_eq!(status, 200);
    let set = json!({"token": token, "newPassword": STRONG});
    // Disabled: the token is void (before, it was redeemed with 200)...
    let (status, body) = app.post_json("/auth/password/set", set.clone()).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    // ...and stays void once the user is enabled again: no login with a password set through it.
    let (status, _) = app
        .admin("PATCH", &path, &admin, Some(json!({"active": true})))
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.post_json("/auth/password/set", set).await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    assert_eq!(app.post_login("pendiente", STRONG).await.0, 422);
}

#[tokio::test]
async fn an_admin_sets_their_own_password_at_auth_password_only() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.login_tokens().await;
    let (_, me) = app.get_me(&admin).await;
    let path = format!("/admin/users/{}/password", me["datos"]["id"].as_u64().unwrap());
    // Neither set (a stolen admin token would become a permanent takeover) nor cleared.
    for body in [json!({"password": "taken over for good 2026"}), json!({})] {
        let (status, answer) = app.admin("POST", &path, &admin, Some(body)).await;
        assert_eq!((status, codigo(&answer)), (409, "CONFLICT"), "{answer}");
        assert!(
            answer["detalle"].as_str().unwrap().contains("/auth/password"),
            "{answer}"
        );
    }
    assert_eq!(app.get_me(&admin).await.0, 200, "nothing changed");
    assert_eq!(app.post_login(ADMIN, ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn two_admins_demoting_or_disabling_each_other_at_once_leave_one_admin() {
    for kind in [StoreKind::Redis, StoreKind::Memory] {
        for round in 0..5 {
            let app = TestApp::spawn_with(kind, &[]).await;
            let boot = admin_token(&app).await;
            let (_, me) = app.get_me(&boot).await;
            let boot_id = me["datos"]["id"].as_u64().unwrap();
            let mut admins = Vec::new();
            for name in ["ana", "beto"] {
                let (status, body) = app
                    .admin(
                        "POST",
                        "/admin/users",
                        &boot,
                        Some(json!({"username": name, "email": format!("{name}@example.com"), "rol": "admin", "password": STRONG})),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                let id = body["datos"]["user"]["id"].as_u64().unwrap();
                admins.push((id, app.login_tokens_as(name, STRONG).await.0));
            }
            // Ana retires every other admin (the bootstrap one, the users file's): Ana and Beto are the
            // only admins.
            let (_, list) = app.admin("GET", "/admin/users", &admins[0].1, None).await;
            let others: Vec<u64> = list["datos"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["rol"] == "admin" && u["active"] == true)
                .map(|u| u["id"].as_u64().unwrap())
                .filter(|id| *id != admins[0].0 && *id != admins[1].0)
                .collect();
            assert!(others.contains(&boot_id));
            for id in others {
                let (status, body) = app
                    .admin(
                        "PATCH",
                        &format!("/admin/users/{id}"),
                        &admins[0].1,
                        Some(json!({"rol": "usuario"})),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            // Then each demotes (or disables) the other at the same instant.
            let change = if round % 2 == 0 {
                json!({"rol": "usuario"})
            } else {
                json!({"active": false})
            };
            let (beto, ana) = (
                format!("/admin/users/{}", admins[1].0),
                format!("/admin/users/{}", admins[0].0),
            );
            let (a, b) = tokio::join!(
                app.admin("PATCH", &beto, &admins[0].1, Some(change.clone())),
                app.admin("PATCH", &ana, &admins[1].1, Some(change.clone())),
            );
            let statuses = [a.0, b.0];
            assert_eq!(
                statuses.iter().filter(|s| **s == 200).count(),
                1,
                "{kind:?} round {round}: {a:?} {b:?}"
            );
            // The other is refused: 409, or 401 when the winner's change (which ends the loser's
            // sessions) landed before the loser's token was checked.
            assert!(
                statuses.iter().all(|s| matches!(s, 200 | 409 | 401)),
                "{kind:?} round {round}: {a:?} {b:?}"
            );
            let winner = if a.0 == 200 { &admins[0].1 } else { &admins[1].1 };
            let (status, list) = app.admin("GET", "/admin/users", winner, None).await;
            assert_eq!(status, 200, "{list}");
            let active_admins = list["datos"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["rol"] == "admin" && u["active"] == true)
                .count();
            assert_eq!(active_admins, 1, "{kind:?} round {round}: {list}");
        }
    }
}

#[tokio::test]
async fn an_email_that_browsers_would_refuse_is_refused_on_every_path() {
    use shared::config::FromVars;
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let hostile = "\"><img/src=x/onerror=alert(1)>@evil.co";
    let (status, body) = app
        .admin(
            "POST",
            "/admin/users",
            &admin,
            Some(json!({"username": "eve", "email": hostile, "password": STRONG})),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    assert!(body["detalle"].as_str().unwrap().contains("email"), "{body}");
    let (_, me) = app.get_me(&admin).await;
    let (status, body) = app
        .admin(
            "PATCH",
            &format!("/admin/users/{}", me["datos"]["id"].as_u64().unwrap()),
            &admin,
            Some(json!({"email": "a b@x.io"})),
        )
        .await;
    assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"), "{body}");
    // The bootstrap user's e-mail and a users file entry stop the start, naming them.
    let config = |pairs: &[(&str, &str)]| {
        let mut all = vec![("JWT_SECRET", SECRET), ("API_PASSWORD", ADMIN_PASSWORD)];
        all.extend_from_slice(pairs);
        auth_service::config::AuthConfig::from_pairs(all).map(|_| ())
    };
    let err = config(&[("API_USER_EMAIL", "<b>@x.io")]).unwrap_err().to_string();
    assert!(err.contains("API_USER_EMAIL"), "{err}");
    let dir = std::env::temp_dir().join(format!("users-email-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.toml");
    let hash = auth_service::passwords::hash_password(STRONG).unwrap();
    std::fs::write(
        &file,
        format!("[[users]]\nusername = \"eve\"\nemail = '{hostile}'\nrol = \"usuario\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let config = auth_service::config::AuthConfig::from_pairs([
        ("JWT_SECRET", SECRET),
        ("API_PASSWORD", ADMIN_PASSWORD),
        ("USERS_FILE", file.to_str().unwrap()),
    ])
    .unwrap();
    let err = auth_service::app::App::build(config, std::sync::Arc::new(shared::ManualClock::starting_now()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("eve") || err.contains("users[0]"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

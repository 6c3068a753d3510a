//! What the one-process system does before its first request: as auth-service does, it writes the
//! configured users into the store when it starts, not when someone first tries to log in as one.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{StoreKind, TestSystem};

#[tokio::test]
async fn the_configured_users_are_in_the_store_before_any_request() {
    let system = TestSystem::spawn(StoreKind::Redis).await;
    let client = redis::Client::open(test_support::redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    // The usernames index of the auth store (auth-service's `store::keys`), and the bootstrap admin
    // (API_USER), the one configured user here.
    let index = format!("{}auth:{{users}}:name", system.prefix);
    let deadline = Instant::now() + Duration::from_secs(5);
    let admin_id = loop {
        let id: Option<String> = redis::cmd("HGET")
            .arg(&index)
            .arg("api_user")
            .query_async(&mut redis)
            .await
            .unwrap();
        if id.is_some() || Instant::now() > deadline {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let admin_id =
        admin_id.expect("api_user is not in the store five seconds after the start, before any request");
    let record: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{}auth:{{u:{admin_id}}}:user", system.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        record.get("username").map(String::as_str),
        Some("api_user"),
        "{record:?}"
    );
    assert_eq!(record.get("rol").map(String::as_str), Some("admin"), "{record:?}");
}

/// A `USERS_FILE` with one user, `maria`, active or not.
fn users_file(dir: &std::path::Path, hash: &str, active: bool) -> String {
    let path = dir.join(format!("users-{active}.toml"));
    std::fs::write(
        &path,
        format!(
            "[[users]]\nusername = \"maria\"\nemail = \"maria@example.com\"\nrol = \"usuario\"\n\
             password_hash = \"{hash}\"\nactive = {active}\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

async fn maria_logs_in(system: &TestSystem) -> (u16, serde_json::Value) {
    let body = json!({"username": "maria", "password": "maria's long password"});
    let (status, _, body) = system.send("POST", "/auth/login", None, Some(body)).await;
    (status, body)
}

#[tokio::test]
async fn a_user_disabled_in_the_users_file_cannot_log_in_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("all-in-one-users-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = auth_service::passwords::hash_password("maria's long password").unwrap();
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());

    let before = TestSystem::spawn_with(
        StoreKind::Redis,
        prefix.clone(),
        &[("USERS_FILE", users_file(&dir, &hash, true))],
    )
    .await;
    let (status, body) = maria_logs_in(&before).await;
    assert_eq!(status, 200, "{body}");
    drop(before);

    // The same store, the file now saying `active = false`: applied when the system starts, so
    // her login gets what a wrong password gets (before, the stored user stayed active).
    let after = TestSystem::spawn_with(
        StoreKind::Redis,
        prefix,
        &[("USERS_FILE", users_file(&dir, &hash, false))],
    )
    .await;
    let refused = maria_logs_in(&after).await;
    let wrong = json!({"username": "maria", "password": "not her password"});
    let (status, _, body) = after.send("POST", "/auth/login", None, Some(wrong)).await;
    assert_eq!(body["codigo"], "INVALID_CREDENTIALS", "{body}");
    assert_eq!(refused, (status, body));
    let _ = std::fs::remove_dir_all(dir);
}

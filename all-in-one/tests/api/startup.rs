//! What the one-process system does before its first request: as auth-service does, it writes the
//! configured users into the store when it starts, not when someone first tries to log in as one.

use std::time::{Duration, Instant};

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

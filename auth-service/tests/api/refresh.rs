//! Refresh rotation: one use per token, the retry grace, reuse detection, the absolute limit, and
//! the atomic check-and-rotate under concurrency on both stores.

use std::collections::HashSet;

use futures::future::join_all;

use crate::helpers::*;

#[tokio::test]
async fn a_rotated_token_is_refused_after_the_grace_and_its_reuse_revokes_the_session() {
    let app = TestApp::spawn().await;
    let (_, r0) = app.login_tokens().await;
    let (status, body) = app.post_refresh(&r0).await;
    assert_eq!(status, 200, "{body}");
    let (_, r1) = tokens(&body);

    // The new one works.
    let (status, body) = app.post_refresh(&r1).await;
    assert_eq!(status, 200, "{body}");
    let (a2, r2) = tokens(&body);
    assert_eq!(app.get_me(&a2).await.0, 200);

    // Past the grace, the first token is dead: presenting it is reuse.
    app.clock.advance_secs(11);
    let (status, body) = app.post_refresh(&r0).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));

    // Reuse revoked the whole session: the newest refresh and access tokens die too.
    let (status, body) = app.post_refresh(&r2).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
    let (status, body) = app.get_me(&a2).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
}

#[tokio::test]
async fn within_the_grace_a_retry_gets_the_very_same_successor() {
    let app = TestApp::spawn().await;
    let (_, r0) = app.login_tokens().await;
    let first = app.post_refresh(&r0).await;
    app.clock.advance_secs(5);
    let again = app.post_refresh(&r0).await;
    assert_eq!(first.0, 200);
    assert_eq!(first, again, "same pair, byte for byte");

    // Once the successor has been used, the old token is reuse even inside the grace.
    let (_, r1) = tokens(&first.1);
    assert_eq!(app.post_refresh(&r1).await.0, 200);
    let (status, body) = app.post_refresh(&r0).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
}

#[tokio::test]
async fn with_the_grace_off_a_second_use_is_reuse() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("JWT_REFRESH_RETRY_GRACE_SECONDS", "0")]).await;
    let (_, r0) = app.login_tokens().await;
    let (status, body) = app.post_refresh(&r0).await;
    assert_eq!(status, 200);
    let (_, r1) = tokens(&body);
    assert_eq!(codigo(&app.post_refresh(&r0).await.1), "TOKEN_REVOKED");
    assert_eq!(codigo(&app.post_refresh(&r1).await.1), "TOKEN_REVOKED");
}

async fn concurrent_refreshes(kind: StoreKind, grace: &str) -> Vec<(u16, serde_json::Value)> {
    let app = TestApp::spawn_with(kind, &[("JWT_REFRESH_RETRY_GRACE_SECONDS", grace)]).await;
    let (_, r0) = app.login_tokens().await;
    join_all((0..50).map(|_| app.post_refresh(&r0))).await
}

#[tokio::test]
async fn fifty_concurrent_refreshes_yield_one_successor_on_redis() {
    let results = concurrent_refreshes(StoreKind::Redis, "10").await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let distinct: HashSet<String> = results
        .iter()
        .map(|(_, b)| b["datos"]["refreshToken"].to_string())
        .collect();
    assert_eq!(distinct.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_refreshes_yield_one_successor_on_the_embedded_store() {
    let results = concurrent_refreshes(StoreKind::Memory, "10").await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let distinct: HashSet<String> = results
        .iter()
        .map(|(_, b)| b["datos"]["refreshToken"].to_string())
        .collect();
    assert_eq!(distinct.len(), 1);
}

#[tokio::test]
async fn with_the_grace_off_exactly_one_of_fifty_concurrent_refreshes_succeeds_on_both_stores() {
    for kind in [StoreKind::Redis, StoreKind::Memory] {
        let results = concurrent_refreshes(kind, "0").await;
        let ok = results.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(ok, 1, "{kind:?}");
        assert!(results
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(|(s, b)| *s == 401 && codigo(b) == "TOKEN_REVOKED"));
    }
}

#[tokio::test]
async fn rotation_never_extends_a_session_past_its_absolute_limit() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("SESSION_ABSOLUTE_TIMEOUT_HOURS", "2")]).await;
    let (access, mut refresh) = app.login_tokens().await;
    // The session starts when the store says (its iat), not when this replica's clock says.
    let start = claims_of(&access)["iat"].as_i64().unwrap();
    // Refresh every 50 minutes: the access token (60 min) and refresh token (24 h) are capped.
    for _ in 0..2 {
        app.clock.advance_secs(50 * 60);
        let (status, body) = app.post_refresh(&refresh).await;
        assert_eq!(status, 200, "{body}");
        let (access, next) = tokens(&body);
        assert!(claims_of(&next)["exp"].as_i64().unwrap() <= start + 2 * 3600);
        assert!(claims_of(&access)["exp"].as_i64().unwrap() <= start + 2 * 3600);
        refresh = next;
    }
    // Past the limit the refresh token has expired, however fresh it is.
    app.clock.advance_secs(21 * 60);
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens().await;
    let (status, body) = app.post_refresh(&access).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));
}

#[tokio::test]
async fn an_expired_refresh_token_says_so() {
    let app = TestApp::spawn().await;
    let (_, refresh) = app.login_tokens().await;
    app.clock.advance_secs(24 * 3600 + 10);
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
    assert!(body["detalle"].as_str().unwrap().contains("refresh"));
}

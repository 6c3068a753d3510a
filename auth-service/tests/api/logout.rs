//! Logout, logout-all, and introspection seeing both.

use crate::helpers::*;

#[tokio::test]
async fn after_logout_the_access_token_is_refused_and_introspection_says_inactive() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.login_tokens().await;
    assert_eq!(app.introspect(&access).await["active"], true);
    assert_eq!(app.introspect(&refresh).await["active"], true);

    let (status, body) = app.post_bearer("/auth/logout", &access).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["exito"], true);

    let (status, body) = app.get_me(&access).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
    assert_eq!(
        app.introspect(&access).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(app.introspect(&refresh).await["active"], false);
    // The session's refresh token is dead too.
    let (status, body) = app.post_refresh(&refresh).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_REVOKED"));
    // And the token cannot log out twice.
    assert_eq!(app.post_bearer("/auth/logout", &access).await.0, 401);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_and_only_theirs() {
    let app = TestApp::spawn().await;
    let (a1, r1) = app.login_tokens().await;
    let (a2, r2) = app.login_tokens().await;
    let (maria_access, _) = app.login_tokens_as(MARIA, MARIA_PASSWORD).await;

    let (status, _) = app.post_bearer("/auth/logout-all", &a1).await;
    assert_eq!(status, 200);
    for access in [&a1, &a2] {
        assert_eq!(codigo(&app.get_me(access).await.1), "TOKEN_REVOKED");
    }
    for refresh in [&r1, &r2] {
        assert_eq!(codigo(&app.post_refresh(refresh).await.1), "TOKEN_REVOKED");
    }
    assert_eq!(
        app.get_me(&maria_access).await.0,
        200,
        "another user's session is untouched"
    );

    // A login after logout-all starts a good session, even within the same millisecond.
    let (a3, r3) = app.login_tokens().await;
    assert_eq!(app.get_me(&a3).await.0, 200);
    assert_eq!(app.post_refresh(&r3).await.0, 200);
}

#[tokio::test]
async fn introspection_reports_claims_of_live_tokens_and_nothing_for_garbage() {
    let app = TestApp::spawn().await;
    let (access, _) = app.login_tokens().await;
    let datos = app.introspect(&access).await;
    assert_eq!(datos["active"], true);
    assert_eq!(datos["sub"], "1");
    assert_eq!(datos["typ"], "access");
    assert_eq!(datos["username"], ADMIN);
    assert_eq!(
        app.introspect("garbage").await,
        serde_json::json!({"active": false})
    );
    app.clock.advance_secs(3600 + 10);
    assert_eq!(app.introspect(&access).await["active"], false);
}

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

mod introspection_clients {
    use super::*;
    use base64::Engine;

    const SECRET_A: &str = "0f3c1a9e5b7d2c4e6a8b0d1f3e5c7a9b0f3c1a9e5b7d2c4e6a8b0d1f3e5c7a9b";

    fn basic(id: &str, secret: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        format!("Basic {encoded}")
    }

    async fn introspect_as(
        app: &TestApp,
        authorization: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, Option<String>, serde_json::Value) {
        let mut request = app.client.post(app.url("/auth/introspect")).json(&body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let res = request.send().await.unwrap();
        let challenge = res
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (status, body) = read(res).await;
        (status, challenge, body)
    }

    #[tokio::test]
    async fn with_clients_configured_only_a_client_with_its_secret_may_introspect() {
        let clients = format!("backend-a:{SECRET_A},backend-b:{SECRET_A}b");
        let app = TestApp::spawn_with(StoreKind::Memory, &[("INTROSPECTION_CLIENTS", &clients)]).await;
        let (access, _) = app.login_tokens().await;
        let body = serde_json::json!({ "token": access });

        let (status, _, datos) = introspect_as(&app, Some(&basic("backend-a", SECRET_A)), body.clone()).await;
        assert_eq!(status, 200, "{datos}");
        assert_eq!(datos["datos"]["active"], true);

        for authorization in [
            None,
            Some(basic("backend-a", "wrong-secret-wrong-secret-wrong-secret").as_str()),
            Some(basic("backend-b", SECRET_A).as_str()),
            Some(basic("nobody", SECRET_A).as_str()),
            Some(format!("Bearer {access}").as_str()),
            Some("Basic %%%"),
        ] {
            let (status, challenge, body) = introspect_as(&app, authorization, body.clone()).await;
            assert_eq!(
                (status, codigo(&body)),
                (401, "INVALID_CLIENT"),
                "{authorization:?}"
            );
            assert!(
                challenge.is_some_and(|c| c.starts_with("Basic ")),
                "{authorization:?}"
            );
            assert_eq!(body["exito"], false);
        }
        // Authentication comes before the body: a bad body without credentials is still a 401.
        let (status, _, _) = introspect_as(&app, None, serde_json::json!([])).await;
        assert_eq!(status, 401);
        let (status, _, _) =
            introspect_as(&app, Some(&basic("backend-a", SECRET_A)), serde_json::json!([])).await;
        assert_eq!(status, 422);
    }

    #[tokio::test]
    async fn without_clients_configured_anyone_may_introspect_as_before() {
        let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
        let (access, _) = app.login_tokens().await;
        let (status, _, body) = introspect_as(&app, None, serde_json::json!({ "token": access })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["datos"]["active"], true);
    }
}

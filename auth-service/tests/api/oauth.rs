//! `POST /oauth2/token` with `client_credentials`: RFC 6749 client authentication and errors, RFC 9068
//! access tokens, scopes, the limits, and a disabled client's tokens.

use base64::Engine as _;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{claims_of, codigo, read, StoreKind, TestApp};

const ISSUER: &str = "http://localhost:8000";

async fn oauth_app(kind: StoreKind) -> TestApp {
    TestApp::spawn_with(kind, &[("JWT_ISSUER", ISSUER)]).await
}

impl TestApp {
    /// Registers a client through the admin API; its secret.
    async fn register(&self, metadata: Value) -> String {
        let token = self.login_tokens().await.0;
        let res = self
            .client
            .post(self.url("/admin/clients"))
            .bearer_auth(token)
            .json(&metadata)
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!(status, 201, "{body}");
        body["datos"]["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A token request with `form` and, if given, HTTP Basic credentials.
    async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.client.post(self.url("/oauth2/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.send().await.unwrap();
        let headers = res.headers().clone();
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    }
}

fn billing() -> Value {
    json!({"client_id": "billing", "client_name": "Billing", "grant_types": ["client_credentials"],
           "scope": "solicitud:read solicitud:write"})
}

#[tokio::test]
async fn a_client_gets_an_rfc_9068_access_token_with_basic_or_post_as_it_registered() {
    let app = oauth_app(StoreKind::Redis).await;
    let secret = app.register(billing()).await;
    let (status, body, headers) = app
        .token_request(
            Some(("billing", &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "solicitud:read solicitud:write");
    assert!(
        body.get("refresh_token").is_none(),
        "client_credentials has no refresh token"
    );
    let token = body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    let claims = claims_of(token);
    assert_eq!(
        (claims["sub"].as_str(), claims["client_id"].as_str()),
        (Some("billing"), Some("billing"))
    );
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], "solicitud-transporte-api");
    assert_eq!(claims["typ"], "access");
    for absent in ["rol", "sid", "username", "email"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }
    // The token verifies as any access token, and introspects as active.
    let verified = app.app.codec().verify::<shared::AccessClaims>(token).unwrap();
    assert_eq!(verified.scope.as_deref(), Some("solicitud:read solicitud:write"));
    let introspected = app.introspect(token).await;
    assert_eq!(
        (introspected["active"].clone(), introspected["client_id"].clone()),
        (json!(true), json!("billing"))
    );
    // It is no person's token: the person endpoints refuse it.
    let (status, body) = app.get_me(token).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));

    // A narrower scope on request; a client registered for client_secret_post uses the form.
    let (status, body, _) = app
        .token_request(
            Some(("billing", &secret)),
            &[("grant_type", "client_credentials"), ("scope", "solicitud:read")],
        )
        .await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("solicitud:read")));
    let mut poster = billing();
    poster["client_id"] = json!("poster");
    poster["token_endpoint_auth_method"] = json!("client_secret_post");
    let poster_secret = app.register(poster).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "poster"),
        ("client_secret", poster_secret.as_str()),
    ];
    let (status, body, _) = app.token_request(None, &form).await;
    assert_eq!(status, 200, "{body}");
    // Each client authenticates the one way it registered.
    let (status, body, _) = app
        .token_request(
            Some(("poster", &poster_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "billing"),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = app.token_request(None, &form).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn every_wrong_request_gets_its_rfc_6749_error() {
    let app = oauth_app(StoreKind::Memory).await;
    let secret = app.register(billing()).await;
    let grant = [("grant_type", "client_credentials")];
    for (basic, form, status, error) in [
        (Some(("billing", "wrong")), &grant[..], 401, "invalid_client"),
        (
            Some(("nobody", secret.as_str())),
            &grant[..],
            401,
            "invalid_client",
        ),
        (None, &grant[..], 401, "invalid_client"),
        (
            Some(("billing", secret.as_str())),
            &[("grant_type", "client_credentials"), ("scope", "solicitud:admin")][..],
            400,
            "invalid_scope",
        ),
        (
            Some(("billing", secret.as_str())),
            &[("grant_type", "client_credentials"), ("scope", "openid")][..],
            400,
            "invalid_scope",
        ),
        (
            Some(("billing", secret.as_str())),
            &[("grant_type", "password"), ("username", "a"), ("password", "b")][..],
            400,
            "unsupported_grant_type",
        ),
        (
            Some(("billing", secret.as_str())),
            &[("scope", "solicitud:read")][..],
            400,
            "invalid_request",
        ),
        (
            Some(("billing", secret.as_str())),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", secret.as_str()),
            ][..],
            400,
            "invalid_request",
        ),
        (
            Some(("billing", secret.as_str())),
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ][..],
            400,
            "invalid_request",
        ),
        (
            Some(("billing", secret.as_str())),
            &[("grant_type", "authorization_code"), ("code", "x")][..],
            400,
            "unauthorized_client",
        ),
    ] {
        let (got, body, headers) = app.token_request(basic, form).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
        assert!(body["error_description"].is_string(), "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        if error == "invalid_client" {
            assert!(
                headers["www-authenticate"].to_str().unwrap().starts_with("Basic"),
                "{headers:?}"
            );
        }
    }
    // JSON instead of a form.
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("billing", Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test]
async fn fifty_parallel_token_requests_of_one_client_all_succeed() {
    let app = oauth_app(StoreKind::Redis).await;
    let secret = app.register(billing()).await;
    let answers = join_all((0..50).map(|_| {
        app.token_request(
            Some(("billing", &secret)),
            &[("grant_type", "client_credentials")],
        )
    }))
    .await;
    let tokens: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 50, "fifty distinct tokens");
}

#[tokio::test]
async fn wrong_secrets_lock_a_client_id_whether_or_not_it_exists() {
    let app = TestApp::spawn_with(
        StoreKind::Memory,
        &[("JWT_ISSUER", ISSUER), ("RATE_LIMIT_LOGIN_MAX_FAILURES", "3")],
    )
    .await;
    let secret = app.register(billing()).await;
    for id in ["billing", "ghost"] {
        for _ in 0..3 {
            let (status, _, _) = app
                .token_request(Some((id, "wrong")), &[("grant_type", "client_credentials")])
                .await;
            assert_eq!(status, 401);
        }
        let presented = if id == "billing" { secret.as_str() } else { "wrong" };
        let (status, body, headers) = app
            .token_request(Some((id, presented)), &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("slow_down")),
            "{id}: {body}"
        );
        assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
}

#[tokio::test]
async fn a_disabled_clients_tokens_are_inactive_and_it_gets_no_more() {
    let app = oauth_app(StoreKind::Redis).await;
    let secret = app.register(billing()).await;
    let grant = [("grant_type", "client_credentials")];
    let (_, body, _) = app.token_request(Some(("billing", &secret)), &grant).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let admin = app.login_tokens().await.0;
    let patch = |active: bool| {
        app.client
            .patch(app.url("/admin/clients/billing"))
            .bearer_auth(&admin)
            .json(&json!({ "active": active }))
            .send()
    };
    assert_eq!(patch(false).await.unwrap().status(), 200);
    assert_eq!(app.introspect(&token).await["active"], false);
    let (status, body, _) = app.token_request(Some(("billing", &secret)), &grant).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    // Enabled again at once: its new token is dated after the cut-off, so it is live.
    assert_eq!(patch(true).await.unwrap().status(), 200);
    let (status, body, _) = app.token_request(Some(("billing", &secret)), &grant).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(fresh).await["active"], true);
    assert_eq!(
        app.introspect(&token).await["active"],
        false,
        "the old one stays revoked"
    );
}

#[tokio::test]
async fn with_a_plain_issuer_the_oauth_endpoints_are_off() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let res = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn a_client_revokes_and_introspects_tokens_with_its_credentials() {
    let app = oauth_app(StoreKind::Redis).await;
    let secret = app.register(billing()).await;
    let mut other = billing();
    other["client_id"] = json!("other");
    let other_secret = app.register(other).await;
    let grant = [("grant_type", "client_credentials")];
    let (_, body, _) = app.token_request(Some(("billing", &secret)), &grant).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let post = |path: &str, id: &str, secret: &str, form: Vec<(&str, &str)>| {
        let req = app
            .client
            .post(app.url(path))
            .basic_auth(id, Some(secret))
            .form(&form);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let no_store = res
                .headers()
                .get("cache-control")
                .is_some_and(|v| v == "no-store");
            (status, res.json::<Value>().await.unwrap(), no_store)
        }
    };

    // Introspection (RFC 7662): any authenticated client; the claims of a live token.
    let (status, body, no_store) = post(
        "/oauth2/introspect",
        "other",
        &other_secret,
        vec![("token", &token)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(no_store);
    assert_eq!(
        (
            body["active"].clone(),
            body["client_id"].clone(),
            body["token_type"].clone()
        ),
        (json!(true), json!("billing"), json!("Bearer"))
    );
    assert_eq!(body["scope"], "solicitud:read solicitud:write");
    let (status, body, _) = post(
        "/oauth2/introspect",
        "other",
        &other_secret,
        vec![("token", "garbage")],
    )
    .await;
    assert_eq!((status, body), (200, json!({"active": false})));
    let (status, body, _) = post("/oauth2/introspect", "other", "wrong", vec![("token", &token)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    // Revocation (RFC 7009): only the client the token was issued to; junk is no error.
    let (status, body, _) = post("/oauth2/revoke", "other", &other_secret, vec![("token", &token)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(
        app.introspect(&token).await["active"],
        true,
        "another client's revoke did nothing"
    );
    let (status, _, _) = post("/oauth2/revoke", "billing", &secret, vec![("token", "garbage")]).await;
    assert_eq!(status, 200);
    let (status, body, _) = post(
        "/oauth2/revoke",
        "billing",
        &secret,
        vec![("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(app.introspect(&token).await["active"], false);
    let entries = app
        .app
        .store
        .feed
        .feed_after(auth_service::store::EntryId::ZERO, 100)
        .await
        .unwrap();
    let jti = claims_of(&token)["jti"].as_str().unwrap().to_string();
    assert!(
        entries
            .iter()
            .any(|(_, e)| e.revoked == shared::revocation::Revoked::Token(jti.clone())),
        "the revocation is fed to backends"
    );
    // Another token of the same client is untouched.
    let (_, body, _) = app.token_request(Some(("billing", &secret)), &grant).await;
    assert_eq!(
        app.introspect(body["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let (status, body, _) = post("/oauth2/revoke", "billing", &secret, vec![]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn discovery_names_exactly_what_is_implemented() {
    let app = oauth_app(StoreKind::Memory).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let (status, doc) = read(app.client.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth2/token"));
        assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/oauth2/revoke"));
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{ISSUER}/oauth2/introspect")
        );
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post", "none"])
        );
        // Introspection is for clients that authenticate (RFC 7662 §2.1).
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"])
        );
        // Only what is implemented: no implicit or hybrid flow, no request objects, no `plain` PKCE.
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        for absent in [
            "request_parameter_supported",
            "registration_endpoint",
            "pushed_authorization_request_endpoint",
        ] {
            assert!(doc.get(absent).is_none(), "{absent} in {doc}");
        }
        // ID tokens are signed with published keys even when access tokens are HS256.
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    }
    let eddsa = TestApp::spawn_with(
        StoreKind::Memory,
        &[("JWT_ISSUER", ISSUER), ("JWT_ALGORITHM", "EdDSA")],
    )
    .await;
    let (_, doc) = read(
        eddsa
            .client
            .get(eddsa.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
}

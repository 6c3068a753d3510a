//! The OpenAPI document parses, documents every route, and every documented operation answers a
//! well-formed and a malformed request with a status it documents.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn send(app: &TestApp, method: &Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> u16 {
    let mut req = app.client.request(method.clone(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    req.send().await.unwrap().status().as_u16()
}

/// A well-formed request for each operation: (token?, body?).
async fn valid(app: &TestApp, method: &str, path: &str) -> (Option<String>, Option<Value>) {
    let (access, refresh) = app.login_tokens().await;
    match (method, path) {
        ("post", "/auth/login") => (None, Some(json!({"username": ADMIN, "password": ADMIN_PASSWORD}))),
        ("post", "/auth/refresh") => (None, Some(json!({"refreshToken": refresh}))),
        ("post", "/auth/introspect") => (None, Some(json!({"token": access}))),
        ("post", "/auth/mfa/verify") => (None, Some(json!({"mfaToken": access, "code": "123456"}))),
        ("post", "/auth/mfa/activate") | ("post", "/auth/mfa/disable") => {
            (Some(access), Some(json!({"code": "123456"})))
        }
        ("post", "/v2/auth/gettoken") => (
            None,
            Some(
                json!({"username": "admin@example.com", "password": ADMIN_PASSWORD, "virtual_operator": "saphety"}),
            ),
        ),
        (_, p) if p.starts_with("/auth/") => (Some(access), None),
        _ => (None, None),
    }
}

#[tokio::test]
async fn every_documented_route_answers_with_a_documented_status() {
    // With an issuer URL: the OAuth 2.0 endpoints are on.
    let app = TestApp::spawn_with(StoreKind::Redis, &[("JWT_ISSUER", "http://localhost:8000")]).await;
    let res = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    for route in auth_service::routes::table() {
        assert!(
            paths.contains_key(route.template),
            "{route:?} is served but not documented"
        );
    }

    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let documented: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();

            let (token, body) = valid(&app, method, path).await;
            let body = body.map(|b| serde_json::to_vec(&b).unwrap());
            let status = send(&app, &http_method, path, token.as_deref(), body).await;
            assert!(
                documented.contains(&status),
                "{method} {path} (valid) answered {status}, documented {documented:?}"
            );

            let invalid_body = (method != "get").then(|| b"{\"truncated\": ".to_vec());
            let status = send(&app, &http_method, path, None, invalid_body).await;
            assert!(
                documented.contains(&status),
                "{method} {path} (invalid) answered {status}, documented {documented:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} operations");
}

/// Every method the route table does not list for a path is 405 with `Allow` listing exactly the ones
/// it does (RFC 9110 §15.5.6); every listed method is served (neither 404 nor 405); the document
/// offers exactly the table's methods on each path; an unknown path is 404 whatever the method.
#[tokio::test]
async fn the_route_table_decides_404_405_and_allow_and_matches_the_document() {
    let app = TestApp::spawn_with(StoreKind::Redis, &[("JWT_ISSUER", "http://localhost:8000")]).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS", "HEAD",
    ];
    for route in auth_service::routes::table() {
        let mut documented: Vec<String> = doc["paths"][route.template]
            .as_object()
            .unwrap_or_else(|| panic!("{} is served but not documented", route.template))
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        let mut served: Vec<String> = route.methods.iter().map(|m| m.to_string()).collect();
        served.sort();
        assert_eq!(
            documented, served,
            "{}: documented vs route table",
            route.template
        );

        let path = route
            .template
            .replace("{id}", "1")
            .replace("{client_id}", "some-client");
        for method in methods {
            let res = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let allow = res
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            // HEAD is answered wherever GET is (RFC 9110 §9.3.2), and listed in `Allow` beside it.
            if route.accepts(&Method::from_bytes(method.as_bytes()).unwrap()) {
                assert!(status != 404 && status != 405, "{method} {path}: {status}");
                assert_eq!(allow, None, "{method} {path}");
            } else {
                assert_eq!(status, 405, "{method} {path}");
                assert_eq!(allow.as_deref(), Some(route.allow().as_str()), "{method} {path}");
            }
        }
    }
    for method in methods {
        let res = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/no/such/route"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{method}");
        assert!(res.headers().get("allow").is_none(), "{method}");
    }
}

/// The request schemas carry the rules the handlers enforce: a password of at most
/// `MAX_PASSWORD_CHARS`, and gettoken's fields non-blank (its `Required`), `otp` optional.
#[tokio::test]
async fn request_schemas_carry_the_handlers_rules() {
    use auth_service::passwords::MAX_PASSWORD_CHARS;
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(MAX_PASSWORD_CHARS, 128);
    assert_eq!(
        schemas["LoginRequest"]["properties"]["password"]["maxLength"],
        MAX_PASSWORD_CHARS
    );
    let gettoken = &schemas["GetTokenRequest"];
    let mut required: Vec<&str> = gettoken["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["password", "username", "virtual_operator"]);
    for field in ["username", "password", "virtual_operator"] {
        let f = &gettoken["properties"][field];
        assert_eq!(
            (f["type"].as_str(), f["minLength"].as_u64()),
            (Some("string"), Some(1)),
            "{field}"
        );
        assert_eq!(
            f["pattern"],
            shared::ops::not_blank_pattern(),
            "{field}: not only whitespace"
        );
    }
    assert_eq!(
        gettoken["properties"]["password"]["maxLength"],
        MAX_PASSWORD_CHARS
    );
}

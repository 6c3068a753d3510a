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
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    for route in auth_service::routes::ROUTES {
        assert!(paths.contains_key(*route), "{route} is served but not documented");
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

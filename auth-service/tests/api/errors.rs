//! Bad requests of every shape get the envelope with the right status, never a plain-text body.

use serde_json::Value;

use crate::helpers::*;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value, String) {
    let mut req = app.client.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let (status, body) = read(res).await;
    assert_eq!(body["exito"], false, "{body}");
    assert!(
        body["mensaje"].is_string() && body["detalle"].is_string() && body["codigo"].is_string(),
        "{body}"
    );
    (status, body, ct)
}

#[tokio::test]
async fn malformed_requests_get_the_envelope_with_the_right_status() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    use reqwest::Method;
    type Case<'a> = (&'a str, Method, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Method::POST,
            "/auth/login",
            Some("application/json"),
            b"{\"username\": ".to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            "wrong content type",
            Method::POST,
            "/auth/login",
            Some("text/plain"),
            br#"{"username":"a","password":"b"}"#.to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            "no content type",
            Method::POST,
            "/auth/login",
            None,
            br#"{"username":"a","password":"b"}"#.to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            "JSON that is not an object",
            Method::POST,
            "/auth/login",
            Some("application/json"),
            b"[1,2]".to_vec(),
            422,
            "VALIDATION_ERROR",
        ),
        (
            "1 MiB body",
            Method::POST,
            "/auth/login",
            Some("application/json"),
            vec![b' '; 1 << 20],
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "unknown route",
            Method::GET,
            "/auth/nothing-here",
            None,
            vec![],
            404,
            "NOT_FOUND",
        ),
        ("root", Method::GET, "/", None, vec![], 404, "NOT_FOUND"),
        (
            "wrong method",
            Method::GET,
            "/auth/login",
            None,
            vec![],
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            "wrong method on refresh",
            Method::PUT,
            "/auth/refresh",
            None,
            vec![],
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            "wrong method with a token route",
            Method::DELETE,
            "/auth/me",
            None,
            vec![],
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (name, method, path, ct, body, status, code) in cases {
        let (got_status, got, content_type) = raw(&app, method, path, ct, body).await;
        assert_eq!((got_status, codigo(&got)), (status, code), "{name}: {got}");
        assert_eq!(content_type, "application/json", "{name}");
    }
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_without_a_content_length() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..64).map(|_| Ok(vec![b' '; 1024])).collect();
    let res = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (413, "PAYLOAD_TOO_LARGE"));
}

#[tokio::test]
async fn a_route_that_needs_a_token_reports_a_wrong_path_as_a_wrong_path() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let res = app.client.get(app.url("/auth/me/extra")).send().await.unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn a_body_that_is_not_one_json_document_is_400_on_every_endpoint() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let mut invalid_utf8 = br#"{"username":"api_user","password":"x","note":""#.to_vec();
    invalid_utf8.extend_from_slice(b"\xc3\x28\"}");
    for path in [
        "/auth/login",
        "/auth/refresh",
        "/auth/introspect",
        "/auth/mfa/verify",
    ] {
        for body in [br#"{"a":1}{"b":2}"#.to_vec(), invalid_utf8.clone()] {
            let (status, body, _) =
                raw(&app, reqwest::Method::POST, path, Some("application/json"), body).await;
            assert_eq!((status, codigo(&body)), (400, "BAD_REQUEST"), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn gettoken_refuses_duplicate_keys_and_more_than_one_document() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/v2/auth/gettoken"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (status, body) = read(
        send(r#"{"username":"ghost@example.com","username":"admin@example.com","password":"correct horse battery staple","virtual_operator":"saphety"}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["Errors"][0]["Field"], "username");
    assert_eq!(body["Errors"][0]["Code"], "Duplicate");
    let (status, body) = read(
        send(r#"{"username":"admin@example.com","password":"correct horse battery staple","virtual_operator":"saphety"}{}"#)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &body["Errors"][0]["Code"]),
        (400, &serde_json::json!("InvalidRequest")),
        "{body}"
    );
}

/// The issue's cases: a 405 names the methods its path accepts; a wrong method on an unknown path is
/// 404; the right method with a bad body keeps its own error.
#[tokio::test]
async fn a_405_carries_allow_with_the_paths_methods() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    use reqwest::Method;
    let trace = Method::from_bytes(b"TRACE").unwrap();
    for (method, path, allow) in [
        (Method::DELETE, "/auth/login", "POST"),
        (trace.clone(), "/auth/login", "POST"),
        (Method::PUT, "/v2/auth/gettoken", "POST"),
        (trace.clone(), "/auth/me", "GET, HEAD"),
        (Method::POST, "/health", "GET, HEAD"),
    ] {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let allow_header = res
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string());
        let (status, body) = read(res).await;
        assert_eq!(
            (status, codigo(&body)),
            (405, "METHOD_NOT_ALLOWED"),
            "{method} {path}"
        );
        assert_eq!(allow_header.as_deref(), Some(allow), "{method} {path}");
    }
    let (status, body, _) = raw(&app, trace, "/auth/nothing-here", None, vec![]).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"));
    let (status, body, _) = raw(
        &app,
        Method::POST,
        "/auth/login",
        Some("application/json"),
        b"{\"truncated\": ".to_vec(),
    )
    .await;
    assert_eq!((status, codigo(&body)), (400, "BAD_REQUEST"));
}

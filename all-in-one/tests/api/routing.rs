//! Routing parity with the gateway: `deploy/gateway.conf.template`'s `location` blocks, read from the
//! file and matched the way nginx matches them (an exact `=` location first, else the longest prefix),
//! send every probed path where [`all_in_one::routes::destination`] sends it; and over HTTP each kind
//! of path gets the answer the gateway's routing gives.

use std::path::Path;

use all_in_one::routes::{destination, table, Destination};
use serde_json::json;

use crate::helpers::{codigo, StoreKind, TestSystem};

/// One `location` of the template: exact or prefix, and where it sends a request.
#[derive(Debug)]
struct Location {
    exact: bool,
    path: String,
    to: Destination,
}

/// The template's public locations (internal ones, the gateway's error pages, are unreachable).
fn gateway_locations() -> Vec<Location> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/gateway.conf.template");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("location ") else {
            continue;
        };
        let rest = rest.trim_end_matches('{').trim();
        let (exact, path) = match rest.strip_prefix("= ") {
            Some(path) => (true, path.trim().to_string()),
            None => (false, rest.to_string()),
        };
        // The block's body, up to its closing brace.
        let mut body = Vec::new();
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            body.push(line);
        }
        if body.contains(&"internal;") {
            continue;
        }
        let to = if body.iter().any(|l| l.contains("proxy_pass $auth_upstream")) {
            Destination::Auth
        } else if body.iter().any(|l| l.contains("proxy_pass $solicitud_upstream")) {
            Destination::Solicitud
        } else if body.iter().any(|l| l.starts_with("return 200")) {
            Destination::Health
        } else if body.iter().any(|l| l.starts_with("return 404")) {
            Destination::NotFound
        } else {
            panic!("a location the test does not understand: {path} {body:?}");
        };
        out.push(Location { exact, path, to });
    }
    out
}

/// Where nginx sends `path` by these locations.
fn nginx_destination(locations: &[Location], path: &str) -> Destination {
    if let Some(exact) = locations.iter().find(|l| l.exact && l.path == path) {
        return exact.to;
    }
    locations
        .iter()
        .filter(|l| !l.exact && path.starts_with(&l.path))
        .max_by_key(|l| l.path.len())
        .map_or(Destination::NotFound, |l| l.to)
}

#[test]
fn every_path_goes_where_the_gateway_template_sends_it() {
    let locations = gateway_locations();
    assert!(locations.len() >= 8, "{locations:?}");
    let mut paths: Vec<String> = [
        "/",
        "/health",
        "/health/",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/auth",
        "/auth/",
        "/auth/login",
        "/auth/unknown",
        "/authx",
        "/v2/auth",
        "/v2/auth/",
        "/v2/auth/gettoken",
        "/v2",
        "/v2/other",
        "/solicitud",
        "/solicitud/",
        "/solicitud/7",
        "/solicitud/7/estado",
        "/solicitudes",
        "/_gateway/not-found",
        "/cuenta",
        "/cuenta/",
        "/cuenta/app.js",
        "/cuenta/nada",
        "/cuentas",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    // Every template either service serves, with its variable filled in.
    paths.extend(
        auth_service::routes::table()
            .iter()
            .chain(solicitud_service::routes::table())
            .map(|r| r.template.replace("{id}", "7")),
    );
    for path in &paths {
        assert_eq!(
            destination(path),
            nginx_destination(&locations, path),
            "{path}: the template sends it elsewhere"
        );
    }
    // And the listener's table is exactly the service routes the gateway lets through, and /health.
    for route in table() {
        let path = route.template.replace("{id}", "7");
        assert_ne!(
            nginx_destination(&locations, &path),
            Destination::NotFound,
            "{path}"
        );
    }
}

#[tokio::test]
async fn each_kind_of_path_gets_the_gateways_answer() {
    let system = TestSystem::spawn(StoreKind::Memory).await;
    for (method, path, status, expected) in [
        ("GET", "/health", 200, ""),
        ("POST", "/health", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/", 404, "NOT_FOUND"),
        ("GET", "/ready", 404, "NOT_FOUND"),
        ("GET", "/metrics", 404, "NOT_FOUND"),
        ("GET", "/openapi.json", 404, "NOT_FOUND"),
        ("GET", "/auth", 404, "NOT_FOUND"),
        ("GET", "/auth/", 404, "NOT_FOUND"),
        ("GET", "/auth/unknown", 404, "NOT_FOUND"),
        ("GET", "/auth/login", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/auth/me", 401, "TOKEN_MISSING"),
        ("DELETE", "/solicitud/", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/solicitud", 401, "TOKEN_MISSING"),
        ("GET", "/solicitud/", 401, "TOKEN_MISSING"),
        ("GET", "/solicitud/7", 401, "TOKEN_MISSING"),
        ("GET", "/solicitud/abc", 404, "NOT_FOUND"),
        ("GET", "/solicitudes", 404, "NOT_FOUND"),
        ("POST", "/cuenta", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/cuenta/nada", 404, "NOT_FOUND"),
        ("GET", "/cuentas", 404, "NOT_FOUND"),
    ] {
        let (got, headers, body) = system.send(method, path, None, None).await;
        assert_eq!(
            (got, codigo(&body)),
            (status, expected),
            "{method} {path}: {body}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{method} {path}");
        assert!(headers.contains_key("x-request-id"), "{method} {path}");
    }
    let (status, headers, _) = system.send("GET", "/auth/login", None, None).await;
    assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "POST"));
    // The Saphety-compatible endpoint answers in its own envelope, as through the gateway.
    let (status, _, body) = system
        .send(
            "POST",
            "/v2/auth/gettoken",
            None,
            Some(json!({"username": "x@example.com"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["IsValid"], false, "{body}");
    // The account page is the auth service's, with its own headers.
    for (path, ty) in [
        ("/cuenta", "text/html"),
        ("/cuenta/app.js", "text/javascript"),
        ("/cuenta/app.css", "text/css"),
    ] {
        let res = system.client.get(system.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(ty), "{path}");
        assert_eq!(
            h["content-security-policy"],
            auth_service::routes::CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    // The health check is this process's.
    let (_, _, body) = system.send("GET", "/health", None, None).await;
    assert_eq!(body["datos"]["status"], "up", "{body}");
}

/// RFC 9110 §9.3.2: every GET resource answers HEAD with the GET's status and headers and no body,
/// and `Allow` lists HEAD beside GET (before, HEAD was 405 everywhere).
#[tokio::test]
async fn head_answers_every_get_route_as_get_does_without_a_body() {
    let system = TestSystem::spawn(StoreKind::Memory).await;
    for path in [
        "/health",
        "/cuenta",
        "/cuenta/app.js",
        "/auth/me",
        "/solicitud/",
        "/solicitud/7",
        "/nowhere",
    ] {
        let get = system.client.get(system.url(path)).send().await.unwrap();
        let head = system.client.head(system.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for header in ["content-type", "content-length", "cache-control"] {
            assert_eq!(
                head.headers().get(header),
                get.headers().get(header),
                "HEAD {path}: {header}"
            );
        }
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has a body");
    }
    let (status, headers, _) = system.send("POST", "/cuenta", None, None).await;
    assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "GET, HEAD"));
    let head = system
        .client
        .head(system.url("/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (head.status().as_u16(), head.headers()["allow"].to_str().unwrap()),
        (405, "POST")
    );
}

//! The account page's files over HTTP: their types, the CSP and the other security headers, no inline
//! script or style, everything from the service itself; 404 and 405 in the envelope around them.
//! (The page at work, in a real browser, is all-in-one's `tests/api/cuenta.rs`.)

use serde_json::Value;

use crate::helpers::*;

/// The directives the page relies on, each as it must appear.
const DIRECTIVES: [&str; 9] = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
];

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

#[tokio::test]
async fn the_page_and_its_files_carry_a_strict_csp_and_are_never_cached() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for (path, ty) in [
        ("/cuenta", "text/html; charset=utf-8"),
        ("/cuenta/app.js", "text/javascript; charset=utf-8"),
        ("/cuenta/app.css", "text/css; charset=utf-8"),
    ] {
        let res = get(&app, path).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert_eq!(h["content-type"], ty, "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
        for d in DIRECTIVES {
            assert!(directives.contains(&d), "{path}: {d} missing from {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h.get_all("content-security-policy").iter().count(), 1);
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
        assert!(!res.text().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_html_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    let html = get(&app, "/cuenta").await.text().await.unwrap();
    let lower = html.to_lowercase();
    assert!(lower.starts_with("<!doctype html>"), "{html}");
    assert!(lower.contains("<html lang=\"es\">"));
    assert!(!lower.contains("<style"), "inline <style>");
    assert!(!lower.contains(" style="), "a style attribute");
    // Exactly one script, by URL, empty.
    assert_eq!(lower.matches("<script").count(), 1);
    assert!(lower.contains("<script src=\"/cuenta/app.js\" defer></script>"));
    assert!(lower.contains("<link rel=\"stylesheet\" href=\"/cuenta/app.css\">"));
    for handler in ["onclick=", "onload=", "onsubmit=", "onerror=", "javascript:"] {
        assert!(!lower.contains(handler), "{handler}");
    }
    // Every src and href is a path on this service.
    for attr in ["src=\"", "href=\""] {
        for (i, _) in lower.match_indices(attr) {
            let value = &lower[i + attr.len()..];
            assert!(
                value.starts_with('/') && !value.starts_with("//"),
                "{attr}{}",
                &value[..value.find('"').unwrap()]
            );
        }
    }
    // And the files it names are served.
    for path in ["/cuenta/app.js", "/cuenta/app.css"] {
        assert_eq!(get(&app, path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn other_paths_under_cuenta_are_404_and_other_methods_405_in_the_envelope() {
    let app = TestApp::spawn_with(StoreKind::Memory, &[]).await;
    for path in [
        "/cuenta/nada",
        "/cuenta/app.js.map",
        "/cuenta/index.html",
        "/cuenta//",
        "/cuentas",
        "/cuenta/app.js/x",
    ] {
        let res = get(&app, path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["codigo"], "NOT_FOUND", "{path}: {body}");
    }
    // A trailing slash is ignored, as on every route: the same page (its links are absolute).
    let res = get(&app, "/cuenta/").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("content-security-policy"));
    for path in ["/cuenta", "/cuenta/app.js", "/cuenta/app.css"] {
        let res = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 405, "{path}");
        assert_eq!(res.headers()["allow"], "GET, HEAD");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["codigo"], "METHOD_NOT_ALLOWED", "{path}: {body}");
    }
}

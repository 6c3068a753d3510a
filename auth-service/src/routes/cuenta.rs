//! `GET /cuenta`, `/cuenta/app.js` and `/cuenta/app.css`: the self-service account page (log in with
//! the second step, see who you are, enrol or disable TOTP, change the password, log out here or
//! everywhere).
//!
//! The page is three static files compiled into the binary (`assets/cuenta/`), so it works offline
//! and loads nothing from elsewhere. Its script uses only the public API, from the browser, with the
//! tokens held in memory. These routes are the only ones that do not answer in the envelope: they
//! serve HTML, JavaScript and CSS. A path under `/cuenta/` that is none of them is a 404 envelope
//! (the route table), another method a 405.
//!
//! Every answer carries [`CONTENT_SECURITY_POLICY`] (nothing inline, nothing from another origin,
//! no framing, Trusted Types required) and the headers below; `Cache-Control: no-store` and
//! `nosniff` come with every answer of the service.

use shared::routing::Endpoint;
use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::reply::Response;
use warp::Filter;

const PAGE: &str = include_str!("../../assets/cuenta/index.html");
const SCRIPT: &str = include_str!("../../assets/cuenta/app.js");
const STYLE: &str = include_str!("../../assets/cuenta/app.css");
const PASSKEY_SCRIPT: &str = include_str!("../../assets/cuenta/passkey.js");

/// What the page may load and do: its own script and style (no inline ones), images from itself or
/// the QR code's `data:` URL, requests to its own origin; no plugins, frames, forms sent elsewhere,
/// `<base>`, or being framed; and DOM sinks only through Trusted Types (the script uses none).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'; require-trusted-types-for 'script'";

/// The headers of each file besides the service's own: the CSP, and the same intent for browsers
/// that predate parts of it.
const PAGE_HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    // frame-ancestors' predecessor.
    ("x-frame-options", "DENY"),
    // Tokens never travel in URLs, but nothing about this page needs to leave it in a Referer.
    ("referrer-policy", "no-referrer"),
    // No window opened from elsewhere keeps a handle on this one.
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in PAGE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `GET /cuenta`
#[utoipa::path(get, path = "/cuenta", tag = "cuenta",
    responses((status = 200, description = "The account page (HTML, not the envelope): log in, see who you are, \
        enrol or disable TOTP, change the password, log out here or everywhere. Built on the public API alone.",
        content_type = "text/html")))]
pub(super) fn page() -> Endpoint {
    Endpoint::of::<__path_page>(
        warp::path!("cuenta")
            .and(warp::get())
            .map(|| file(PAGE, "text/html; charset=utf-8")),
    )
}

/// `GET /cuenta/app.js`
#[utoipa::path(get, path = "/cuenta/app.js", tag = "cuenta",
    responses((status = 200, description = "The account page's script", content_type = "text/javascript")))]
pub(super) fn script() -> Endpoint {
    Endpoint::of::<__path_script>(
        warp::path!("cuenta" / "app.js")
            .and(warp::get())
            .map(|| file(SCRIPT, "text/javascript; charset=utf-8")),
    )
}

/// `GET /cuenta/app.css`
#[utoipa::path(get, path = "/cuenta/app.css", tag = "cuenta",
    responses((status = 200, description = "The account page's style sheet", content_type = "text/css")))]
pub(super) fn style() -> Endpoint {
    Endpoint::of::<__path_style>(
        warp::path!("cuenta" / "app.css")
            .and(warp::get())
            .map(|| file(STYLE, "text/css; charset=utf-8")),
    )
}

/// `GET /cuenta/passkey.js`
#[utoipa::path(get, path = "/cuenta/passkey.js", tag = "cuenta",
    responses((status = 200, description = "The hosted login page's passkey script: shows the passkey forms where the browser can use passkeys and runs the ceremony", content_type = "text/javascript")))]
pub(super) fn passkey_script() -> Endpoint {
    Endpoint::of::<__path_passkey_script>(
        warp::path!("cuenta" / "passkey.js")
            .and(warp::get())
            .map(|| file(PASSKEY_SCRIPT, "text/javascript; charset=utf-8")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$('id')` the script looks up is an element of the page (the script throws otherwise).
    #[test]
    fn every_element_the_script_uses_is_on_the_page() {
        let mut ids = Vec::new();
        let mut rest = SCRIPT;
        while let Some(at) = rest.find("$('") {
            rest = &rest[at + 3..];
            let end = rest.find('\'').unwrap();
            ids.push(&rest[..end]);
        }
        // The loops over lists of ids.
        for list in SCRIPT.split("for (const id of [").skip(1) {
            let list = &list[..list.find(']').unwrap()];
            ids.extend(list.split(',').map(|s| s.trim().trim_matches('\'')));
        }
        assert!(ids.len() > 30, "{ids:?}");
        for id in ids {
            assert!(PAGE.contains(&format!("id=\"{id}\"")), "#{id} is not on the page");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_handler_and_loads_only_its_own_files() {
        let lower = PAGE.to_lowercase();
        assert!(!lower.contains("<style"), "an inline <style>");
        assert!(!lower.contains("style="), "a style attribute");
        assert!(!lower.contains("javascript:"));
        // Each <script> has a src and no body.
        let scripts: Vec<&str> = lower.split("<script").skip(1).collect();
        assert_eq!(scripts.len(), 1);
        assert!(
            scripts[0].starts_with(" src=\"/cuenta/app.js\" defer></script>"),
            "{}",
            scripts[0]
        );
        // No inline event handler attribute (onclick=, onload=, ...).
        for (i, _) in lower.match_indices(" on") {
            let attr: String = lower[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                !lower[i + 1 + attr.len()..].starts_with('='),
                "an inline handler {attr}="
            );
        }
        for url in ["http://", "https://", "//"] {
            for attr in ["src=\"", "href=\""] {
                assert!(!lower.contains(&format!("{attr}{url}")), "{attr}{url}");
            }
        }
        // The script never touches storage that outlives the tab, cookies, or HTML sinks.
        for sink in [
            "localStorage",
            "sessionStorage",
            "indexedDB",
            "document.cookie",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!SCRIPT.contains(sink), "app.js uses {sink}");
        }
    }

    #[test]
    fn each_file_has_its_type_and_the_page_headers() {
        for (response, ty) in [
            (file(PAGE, "text/html; charset=utf-8"), "text/html"),
            (file(SCRIPT, "text/javascript; charset=utf-8"), "text/javascript"),
            (file(STYLE, "text/css; charset=utf-8"), "text/css"),
        ] {
            let headers = response.headers();
            assert!(headers[CONTENT_TYPE].to_str().unwrap().starts_with(ty));
            assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
            assert_eq!(headers["x-frame-options"], "DENY");
        }
    }
}

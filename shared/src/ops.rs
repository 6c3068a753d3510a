//! The operational routes both services serve the same way: `GET /health`, `GET /ready` and
//! `GET /openapi.json` (and `GET /metrics`, in [`crate::metrics`]).

use std::future::Future;
use std::sync::Arc;

use warp::reply::Response;
use warp::Filter;

use crate::envelope::{self, Envelope, Status};
use crate::http::into_reply;
use crate::routing::Endpoint;
use crate::store::StoreError;

/// Adds the `bearer` (JWT) security scheme the services' OpenAPI documents refer to.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// What `str::trim` removes (`char::is_whitespace`, Unicode's White_Space), as inclusive ranges.
const WHITESPACE: [(char, char); 10] = [
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// The JSON Schema `pattern` of a string that is not blank: it has a character `str::trim` keeps.
/// Spelled out rather than `\S`, whose meaning differs between regex engines (U+0085, U+FEFF).
pub fn not_blank_pattern() -> String {
    let mut class = String::from("[^");
    for (from, to) in WHITESPACE {
        class.push_str(&format!("\\u{:04x}", u32::from(from)));
        if from != to {
            class.push_str(&format!("-\\u{:04x}", u32::from(to)));
        }
    }
    class.push(']');
    class
}

/// `GET /health`: 200 whenever the process can answer.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The process is up", body = Envelope<Status>)))]
pub fn health() -> Endpoint {
    Endpoint::of::<__path_health>(warp::path!("health").and(warp::get()).map(|| {
        envelope::ok(
            "Servicio activo",
            Status {
                status: "up",
                store: None,
            },
        )
    }))
}

/// What a `/ready` probe returns: answered when the service is ready.
pub type Probe = std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// `GET /ready`: 200 only when `ping` reaches the store (named `store` in the answer), else 503.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "The store answers", body = Envelope<Status>),
        crate::envelope::common::StoreDown
    ))]
pub fn ready<P, F>(store: &'static str, ping: P) -> Endpoint
where
    P: Fn() -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<(), StoreError>> + Send,
{
    let filter = warp::path!("ready").and(warp::get()).then(move || {
        let ping = ping.clone();
        async move {
            ping().await?;
            Ok(envelope::ok(
                "Servicio listo",
                Status {
                    status: "ready",
                    store: Some(store),
                },
            ))
        }
    });
    Endpoint::of::<__path_ready>(filter.map(into_reply))
}

/// `GET /openapi.json`: the service's document, serialised once when the route is built.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub fn openapi(doc: utoipa::openapi::OpenApi) -> Endpoint {
    let json: Arc<str> = doc.to_json().unwrap_or_else(|_| "{}".into()).into();
    let filter = warp::path!("openapi.json").and(warp::get()).map(move || {
        let mut response = Response::new(json.to_string().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
        response
    });
    Endpoint::of::<__path_openapi>(filter)
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub fn metrics() -> Endpoint {
    let filter = warp::path!("metrics").and(warp::get()).map(|| {
        let mut response = warp::reply::Response::new(crate::metrics::metrics().render().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        response
    });
    Endpoint::of::<__path_metrics>(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whitespace_ranges_are_what_trim_removes() {
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let listed = WHITESPACE.iter().any(|(from, to)| (*from..=*to).contains(&c));
            assert_eq!(listed, c.is_whitespace(), "U+{:04X}", u32::from(c));
        }
        assert!(not_blank_pattern().starts_with("[^\\u0009-\\u000d\\u0020\\u0085"));
    }
}

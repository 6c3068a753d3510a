//! Prometheus metrics, one registry per process, served as text at `GET /metrics`.
//!
//! Requests are counted and timed by route template (`/solicitud/{id}`, never the raw path) and
//! status; domain events by outcome. No label ever carries a user, a token or an address.

use std::sync::OnceLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Every metric the services export.
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub rate_limited: IntCounterVec,
    pub logins: IntCounterVec,
    pub refreshes: IntCounterVec,
    pub reuse_detected: IntCounter,
    pub revocations: IntCounterVec,
    pub mfa: IntCounterVec,
    pub store_errors: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable_metric(e));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| unreachable_metric(e));
    c
}

fn plain_counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable_metric(e));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| unreachable_metric(e));
    c
}

// Metric names and labels are constants of this file: registering them cannot fail at run time.
#[allow(clippy::panic)]
fn unreachable_metric(e: prometheus::Error) -> ! {
    panic!("invalid metric definition: {e}")
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Request latency by route.").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["service", "method", "route"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        registry
            .register(Box::new(http_duration.clone()))
            .unwrap_or_else(|e| unreachable_metric(e));
        Self {
            http_requests: counter(
                &registry,
                "http_requests_total",
                "Requests by route and status.",
                &["service", "method", "route", "status"],
            ),
            http_duration,
            rate_limited: counter(
                &registry,
                "rate_limited_total",
                "Requests answered 429.",
                &["service", "route"],
            ),
            logins: counter(
                &registry,
                "auth_logins_total",
                "Login attempts by outcome.",
                &["outcome"],
            ),
            refreshes: counter(
                &registry,
                "auth_refreshes_total",
                "Refresh attempts by outcome.",
                &["outcome"],
            ),
            reuse_detected: plain_counter(
                &registry,
                "auth_refresh_reuse_detected_total",
                "Rotated refresh tokens presented again (sessions revoked).",
            ),
            revocations: counter(
                &registry,
                "auth_revocations_total",
                "Revocations by kind.",
                &["kind"],
            ),
            mfa: counter(
                &registry,
                "auth_mfa_total",
                "MFA operations by outcome.",
                &["outcome"],
            ),
            store_errors: plain_counter(&registry, "store_errors_total", "Store calls that failed (503s)."),
            registry,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The route template of a path, from the service's route table (`{id}` matches a number);
/// `unmatched` for anything else, so a scan of random paths cannot blow up the label set.
pub fn route_label(path: &str, table: &'static [crate::routing::Route]) -> &'static str {
    crate::routing::find(table, path).map_or("unmatched", |r| r.template)
}

/// The method as a label: the standard ones by name, anything else (hyper accepts any token) as
/// `OTHER`, so made-up methods cannot grow the label set.
pub fn method_label(method: &warp::http::Method) -> &'static str {
    use warp::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub fn route() -> impl warp::Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    use warp::Filter;
    warp::path!("metrics").and(warp::get()).map(|| {
        let mut response = warp::reply::Response::new(metrics().render().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        response
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_templates_only() {
        use crate::routing::Route;
        static T: &[Route] = &[
            Route {
                template: "/solicitud/{id}",
                methods: &["GET"],
            },
            Route {
                template: "/health",
                methods: &["GET"],
            },
        ];
        assert_eq!(route_label("/solicitud/42", T), "/solicitud/{id}");
        assert_eq!(route_label("/solicitud/abc", T), "unmatched");
        assert_eq!(route_label("/etc/passwd", T), "unmatched");
    }

    #[test]
    fn made_up_methods_share_one_label() {
        let odd = warp::http::Method::from_bytes(b"AAAA1").unwrap();
        assert_eq!(method_label(&odd), "OTHER");
        assert_eq!(method_label(&warp::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn counters_show_in_the_exposition() {
        metrics().logins.with_label_values(&["success"]).inc();
        assert!(metrics()
            .render()
            .contains("auth_logins_total{outcome=\"success\"}"));
    }
}

//! Prometheus metrics, one registry per process, served as text at `GET /metrics`.
//!
//! Requests are counted and timed by route template (`/solicitud/{id}`, never the raw path) and
//! status; domain events by outcome. No label ever carries a user, a token or an address.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
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
    /// Audit events (admin actions and security events) by kind.
    pub audit_events: IntCounterVec,
    pub revocations: IntCounterVec,
    pub mfa: IntCounterVec,
    pub store_errors: IntCounter,
    /// Seconds since the revocation feed was last known current (a backend that follows it).
    pub revocation_feed_lag: Gauge,
    /// Revocations held in memory by the feed's follower.
    pub revocation_deny_set_size: IntGauge,
    /// Feed entries applied.
    pub revocation_feed_entries: IntCounter,
    /// Feed entries that did not parse (skipped, logged).
    pub revocation_feed_malformed: IntCounter,
    /// Reconnections of the feed's follower after an error.
    pub revocation_feed_reconnects: IntCounter,
    /// Whole-stream reloads after entries were lost unread.
    pub revocation_feed_reloads: IntCounter,
    /// Requests accepted unchecked because the feed was stale (`REVOCATION_FEED_WHEN_STALE=allow`).
    pub revocation_stale_accepted: IntCounter,
    /// From an entry's id (when the auth service wrote it) to its application here.
    pub revocation_feed_delay: Histogram,
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

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .unwrap_or_else(|e| unreachable_metric(e));
    metric
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
            audit_events: counter(
                &registry,
                "auth_audit_events_total",
                "Audit events (admin actions, security events) by kind.",
                &["event"],
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
            revocation_feed_lag: register(
                &registry,
                Gauge::new(
                    "revocation_feed_lag_seconds",
                    "Seconds since the revocation feed was last known current.",
                )
                .unwrap_or_else(|e| unreachable_metric(e)),
            ),
            revocation_deny_set_size: register(
                &registry,
                IntGauge::new(
                    "revocation_deny_set_size",
                    "Revocations held in memory from the feed.",
                )
                .unwrap_or_else(|e| unreachable_metric(e)),
            ),
            revocation_feed_entries: plain_counter(
                &registry,
                "revocation_feed_entries_total",
                "Revocation feed entries applied.",
            ),
            revocation_feed_malformed: plain_counter(
                &registry,
                "revocation_feed_malformed_total",
                "Revocation feed entries skipped because they did not parse.",
            ),
            revocation_feed_reconnects: plain_counter(
                &registry,
                "revocation_feed_reconnects_total",
                "Reconnections of the revocation feed's follower.",
            ),
            revocation_feed_reloads: plain_counter(
                &registry,
                "revocation_feed_reloads_total",
                "Whole-stream reloads of the revocation feed after entries were lost unread.",
            ),
            revocation_stale_accepted: plain_counter(
                &registry,
                "revocation_stale_accepted_total",
                "Requests accepted unchecked while the revocation feed was stale.",
            ),
            revocation_feed_delay: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "revocation_feed_delay_seconds",
                        "From a revocation's entry in the feed to its application here.",
                    )
                    .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0]),
                )
                .unwrap_or_else(|e| unreachable_metric(e)),
            ),
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
/// Takes the template of the route the server matched once per request (`routing::Matched`).
pub fn route_label(template: Option<&'static str>) -> &'static str {
    template.unwrap_or(UNMATCHED)
}

/// The `route` label of a request no route of the table matched.
pub const UNMATCHED: &str = "unmatched";

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

/// A store error becomes the 503 of the error catalogue, counted (`store_errors_total`): here, where
/// the counter is, so the store module needs nothing above it.
impl From<crate::store::StoreError> for crate::error::ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        metrics().store_errors.inc();
        crate::error::ApiError::unavailable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_no_route_matched_is_unmatched() {
        assert_eq!(route_label(Some("/solicitud/{id}")), "/solicitud/{id}");
        assert_eq!(route_label(None), "unmatched");
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

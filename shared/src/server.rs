//! The HTTP server both services run: warp's filters on hyper, with the limits warp's own server does
//! not set, and graceful shutdown.
//!
//! - A client must send its request headers within [`HEADER_READ_TIMEOUT`], so a slow client cannot
//!   hold a connection open for ever (bodies have their own deadline in [`crate::http`]).
//! - Request headers over [`MAX_HEADER_BYTES`] get 431 in the error envelope; hyper's own buffer limit
//!   ([`HYPER_MAX_BUF`]) only catches far larger ones.
//! - The socket peer travels with each request as a [`PeerAddr`] extension, for
//!   [`crate::http::client_ip`].
//! - Every request gets an `X-Request-Id` (the client's, when it is a sane token, or a new UUID),
//!   echoed in the response and carried by every log line of the request, and one log line when it
//!   ends (method, path, status, latency; never a header or a body). Requests are counted and timed in
//!   [`crate::metrics`] by route template.
//! - On shutdown the listener closes, in-flight requests finish (for at most [`DRAIN_TIMEOUT`]), then
//!   `serve` returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service;
use tracing::Instrument;
use warp::http::{HeaderValue, Method};
use warp::reply::Response;

use crate::error::ApiError;
use crate::routing::Router;
use crate::wire::{BodyDeadline, PeerAddr, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_HEADER_BYTES};

/// hyper's read buffer: a hard stop far above [`MAX_HEADER_BYTES`].
pub const HYPER_MAX_BUF: usize = 64 * 1024;
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds `addr`: the listener and the address it got (the port the system chose when `addr`'s is 0).
pub async fn listen(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// The server's limits; [`Limits::default`] is what the services run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// What the server needs to know about the service it runs: its name (a log field and a metrics
/// label).
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    pub name: &'static str,
}

/// The request id of this request (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The request id of the request this task serves (set around every request's handling).
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being served by this task, if any: for log lines that must name it
/// explicitly (the audit trail), wherever in the request's handling they are written.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn header_bytes(req: &hyper::Request<Incoming>) -> usize {
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Serves `router` on `listener` until `shutdown` completes, with the default [`Limits`].
pub async fn serve(
    service: ServiceInfo,
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(service, router, listener, shutdown, Limits::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    service: ServiceInfo,
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    let graceful = GracefulShutdown::new();
    let router = std::sync::Arc::new(router);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let handler = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            handle(service, limits, peer, router.clone(), req)
        });
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(HYPER_MAX_BUF);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(HYPER_MAX_BUF as u32);
        let connection = builder
            .serve_connection(TokioIo::new(stream), handler)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("shutdown: gave up waiting for connections"),
    }
}

/// One request: id, limits, the route's filter, then the log line and the metrics.
async fn handle(
    service: ServiceInfo,
    limits: Limits,
    peer: SocketAddr,
    router: std::sync::Arc<Router>,
    mut req: hyper::Request<Incoming>,
) -> Result<Response, std::convert::Infallible> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    // Matched once: the same answer picks the route's filter, serves the route table's 404/405 check
    // and labels the metrics.
    let matched = crate::routing::Matched::find(router.table(), uri.path());
    // HEAD is GET without the body (RFC 9110 §9.3.2): the GET endpoint answers, and hyper, which
    // knows the request was HEAD, sends the status and headers only.
    if method == Method::HEAD {
        *req.method_mut() = Method::GET;
    }
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = if header_bytes(&req) > limits.max_header_bytes {
        // Answered before the filters, so the headers every response carries are added here.
        let mut response = ApiError::HeadersTooLarge.to_response();
        response.headers_mut().extend(crate::http::security_header_map());
        response
    } else {
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut()
            .insert(BodyDeadline(limits.body_read_timeout));
        req.extensions_mut().insert(RequestId(request_id.clone()));
        req.extensions_mut().insert(matched);
        let mut warp_service = warp::service(router.filter_for(matched.route).clone());
        let call = CURRENT_REQUEST_ID.scope(request_id.clone(), warp_service.call(req));
        match call.instrument(span.clone()).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = crate::metrics::route_label(matched.route.map(|r| r.template));
    let m = crate::metrics::metrics();
    m.http_requests
        .with_label_values(&[
            service.name,
            crate::metrics::method_label(&method),
            route,
            response.status().as_str(),
        ])
        .inc();
    m.http_duration
        .with_label_values(&[service.name, crate::metrics::method_label(&method), route])
        .observe(elapsed.as_secs_f64());
    if status == 429 {
        m.rate_limited.with_label_values(&[service.name, route]).inc();
    }
    span.in_scope(|| {
        tracing::info!(
            target: crate::log_writer::ACCESS_TARGET,
            service = service.name,
            method = %method,
            path = uri.path(),
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    Ok(response)
}

//! The HTTP server both services run: warp's filters on hyper, with the limits warp's own server does
//! not set, and graceful shutdown.
//!
//! - A client must send its request headers within [`HEADER_READ_TIMEOUT`], so a slow client cannot
//!   hold a connection open for ever (bodies have their own deadline in [`crate::http`]).
//! - Request headers over [`MAX_HEADER_BYTES`] get 431 in the error envelope; hyper's own buffer limit
//!   ([`HYPER_MAX_BUF`]) only catches far larger ones.
//! - The socket peer travels with each request as a [`PeerAddr`] extension, for
//!   [`crate::http::client_ip`].
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
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::ApiError;

/// How long a client has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most request-header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's read buffer: a hard stop far above [`MAX_HEADER_BYTES`].
pub const HYPER_MAX_BUF: usize = 64 * 1024;
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

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
            body_read_timeout: crate::http::BODY_READ_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// How long the body of this request may take to arrive; read by [`crate::http::json_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDeadline(pub Duration);

/// The TCP peer of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

fn header_bytes(req: &hyper::Request<Incoming>) -> usize {
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Serves `filter` on `listener` until `shutdown` completes, with the default [`Limits`].
pub async fn serve(
    filter: BoxedFilter<(Response,)>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(filter, listener, shutdown, Limits::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    filter: BoxedFilter<(Response,)>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    let graceful = GracefulShutdown::new();
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
        let warp_service = warp::service(filter.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let mut warp_service = warp_service.clone();
            async move {
                if header_bytes(&req) > limits.max_header_bytes {
                    return Ok(ApiError::HeadersTooLarge.to_response());
                }
                req.extensions_mut().insert(PeerAddr(peer));
                req.extensions_mut()
                    .insert(BodyDeadline(limits.body_read_timeout));
                warp_service.call(req).await
            }
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
            .serve_connection(TokioIo::new(stream), service)
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

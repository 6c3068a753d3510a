//! What the server knows about a request before any route sees it: the size and time limits every
//! request is held to, the connection's peer, and the body's deadline. The bottom layer of the HTTP
//! modules: `error` (which names these limits in its messages), `http` (the filters that enforce the
//! body's) and `server` (which enforces the headers' and hands the rest to the filters) all read it.

use std::net::SocketAddr;
use std::time::Duration;

/// The largest request body accepted (16 KiB is plenty for every endpoint).
pub const BODY_LIMIT: u64 = 16 * 1024;

/// How long a client has to send the whole body once its headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most request-header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long the body of this request may take to arrive; read by [`crate::http::json_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDeadline(pub Duration);

/// The TCP peer of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

//! What both services need, written once.
//!
//! - [`config`]: every variable declared once, then typed settings read with envy from the environment
//!   (and `.env`), validated at start, every problem reported at once.
//! - [`clock`]: the injectable time source every expiry decision reads.
//! - [`claims`]: access, refresh and MFA-challenge claims, and [`claims::TokenKind`].
//! - [`token`]: signing and verification with a pinned algorithm, `kid` selection and strict claims.
//! - [`envelope`]: the `{exito, mensaje, datos}` success body.
//! - [`error`]: the error catalogue: one enum, one mapping to status, mensaje and codigo.
//! - [`jwks`]: JSON Web Key Sets: the public keys the auth service publishes, and a backend's copy.
//! - [`http`]: warp filters: state, size-limited JSON bodies, the Bearer access token, security headers.
//! - [`metrics`]: the Prometheus registry and `GET /metrics`.
//! - [`ops`]: `/health`, `/ready` and `/openapi.json`, the same in both services.
//! - [`rejection`]: the one `recover` that turns every warp rejection into the error envelope.
//! - [`revocation`]: the seam through which a verifying backend asks whether a token was revoked, the
//!   revocation feed's entry format, and the follower that keeps revoked sessions, users and tokens in
//!   memory.
//! - [`routing`]: each service's route table: 404 for unknown paths, 405 with `Allow` for wrong methods.
//! - [`server`]: the hyper server with header and read limits and graceful shutdown.
//! - [`settings`]: the settings types configuration builds (Redis topology, feed staleness), below it.
//! - [`store`]: the fail-closed store error and the lazy, self-healing Redis connection.
//! - [`telemetry`]: the tracing subscriber and the per-request log line.
//! - [`wire`]: the limits every request is held to, its peer and its body deadline (below `error`,
//!   `http` and `server`).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod claims;
pub mod clock;
pub mod config;
pub mod crypto_provider;
pub mod envelope;
pub mod error;
pub mod http;
pub mod jwks;
pub mod log_writer;
pub mod metrics;
pub mod ops;
pub mod rejection;
pub mod revocation;
pub mod routing;
pub mod server;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod wire;

pub use claims::{AccessClaims, MfaClaims, Principal, RefreshClaims, Rol, TokenKind};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::ApiError;
pub use token::{TokenCodec, TokenError};

/// docs/integrating.md's Rust examples are compiled as doctests, so its "Verifying tokens in your own
/// service" section cannot drift from the crate.
#[cfg(doctest)]
#[doc = include_str!("../../docs/integrating.md")]
pub struct ReadmeDoctests;

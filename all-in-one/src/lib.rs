//! The whole system in one process, for a developer's machine or a small single-node deployment: the
//! auth service's and the solicitud service's routes on one listener (`ALL_IN_ONE_BIND_ADDR`, default
//! `0.0.0.0:8000`), routed exactly as the gateway (`deploy/gateway.conf.template`) routes them, so
//! clients written for the one origin of the Compose deployment work unchanged.
//!
//! Both services share one store: the embedded one, or Redis when `REDIS_URL` is set. The solicitud
//! routes ask the auth service's sessions whether a verified token still stands (through the
//! [`shared::revocation`] seam), so a logout is honoured by `/solicitud` at the next request, which
//! separate processes cannot do without a revocation feed.
//!
//! - [`config`]: the auth service's variables plus the listen address.
//! - [`routes`]: where each path goes (the gateway's table) and the one filter that does it.
//! - [`System`]: both apps built from one configuration, bound to one listener.
//!
//! The separate `auth-service` and `solicitud-service` binaries stay what production runs.

pub mod config;
pub mod routes;
mod server;

pub use server::System;

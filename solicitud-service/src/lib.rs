//! The solicitud (transport request) service: a backend that trusts the auth service's access tokens
//! by verifying them locally with the shared secret; it never calls the auth service.
//!
//! - [`config`]: settings on top of [`shared::config`].
//! - [`app`]: the state built once from configuration.
//! - [`server`]: binds and serves it (tests and `main` share it).
//! - [`routes`]: the HTTP surface.
//! - [`domain`]: the request, its fields and its state rules.
//! - [`store`]: where requests live: Redis or the embedded store.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod app;
pub mod config;
pub mod domain;
pub mod routes;
mod server;
pub mod store;

//! Integration tests of the solicitud service: the real server on port 0, against Redis (each test
//! under its own key prefix) or the embedded store; and an end-to-end run of both binaries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod config;
mod e2e;
mod helpers;
mod jwks;
mod oauth_clients;
mod openapi;
mod revocation;
mod solicitudes;
mod store;

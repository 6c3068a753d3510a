//! A client for the Solicitud Transporte identity provider that stays logged in: the Rust sibling of
//! `clients/python` and `clients/js`, with the names of the JWT guide's `APIClient` in Rust style
//! (`login`, `refresh_access_token`, `get_headers`, `get`, `post`, the 5-minute buffer).
//!
//! Unlike the guide's client it stores every rotated refresh token; refreshes once for any number of
//! tasks that find the access token near expiry; retries once a refresh whose answer was lost (inside
//! the service's retry grace the same token gets the same pair); logs in again when the session was
//! revoked or expired and it holds the credentials, else returns [`Error::SessionExpired`]; handles the
//! MFA step (a callback, or [`Client::verify_mfa`]); refuses plain HTTP to another machine unless told
//! to; never logs a token, and no `Debug` output shows one; and keeps the session in a pluggable
//! [`TokenStorage`] (memory by default), so an app can persist it.
//!
//! ```no_run
//! # async fn run() -> Result<(), solicitud_auth::Error> {
//! let client = solicitud_auth::Client::new("http://127.0.0.1:8000", "api_user", "your-secure-password")?;
//! client.login().await?;
//! let response = client.get("/solicitud/").await?; // refreshes first (once, for every task) when due
//! println!("{}", response.status());
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! - [`client`]: [`Client`] and its [`ClientBuilder`].
//! - [`tokens`]: [`Tokens`], the [`TokenStorage`] trait and [`MemoryStorage`].
//! - [`error`]: [`Error`], one variant per way a step can fail.
//!
//! The client runs on Tokio (as `reqwest` does). It speaks plain HTTP only unless the app enables a TLS
//! backend on its own `reqwest` 0.12 dependency (for example `features = ["rustls-tls"]`): Cargo then
//! turns it on for this crate's client too.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;
pub mod error;
pub mod tokens;

pub use client::{Client, ClientBuilder, REFRESH_BUFFER};
pub use error::Error;
pub use reqwest::{Method, Response, StatusCode};
pub use tokens::{MemoryStorage, TokenStorage, Tokens};

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
//! # async fn ask_the_user_for_a_code() -> String { String::new() }
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use solicitud_auth::Client;
//!
//! let client = Client::builder("https://api.example.org")
//!     .credentials("api_user", "your-secure-password")
//!     .mfa_code(|| async { ask_the_user_for_a_code().await }) // only asked when the user has MFA on
//!     .build()?; // plain http:// only to this machine, unless .allow_insecure_http(true)
//! client.login().await?; // Err(Error::InvalidCredentials | MfaRequired | RateLimited { retry_after } ..)
//! let response = client.get("/solicitud/").await?; // one refresh for every task sharing a clone of client
//! println!("{}", response.text().await?);
//! client.post("/solicitud/", &serde_json::json!({"origen": "Bogotá", "destino": "Tunja",
//!     "fechaServicio": "2030-01-15T08:00:00Z", "pasajeros": 2, "motivo": "Audiencia"})).await?;
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! (docs/integrating.md's "Clients" section shows this example as written here; a test keeps the two equal.)
//!
//! - [`client`]: [`Client`] and its [`ClientBuilder`].
//! - [`tokens`]: [`Tokens`], the [`TokenStorage`] trait and [`MemoryStorage`].
//! - [`machine`]: [`ClientCredentials`], a backend's own OAuth 2.0 client (`client_credentials`).
//! - [`error`]: [`Error`], one variant per way a step can fail.
//!
//! The client runs on Tokio (as `reqwest` does). It speaks plain HTTP only unless the app enables a TLS
//! backend on its own `reqwest` 0.12 dependency (for example `features = ["rustls-tls"]`): Cargo then
//! turns it on for this crate's client too.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;
pub mod error;
pub mod machine;
pub mod tokens;

pub use client::{Client, ClientBuilder, REFRESH_BUFFER};
pub use error::Error;
pub use machine::ClientCredentials;
pub use reqwest::{Method, Response, StatusCode};
pub use tokens::{MemoryStorage, TokenStorage, Tokens};

#[cfg(test)]
mod tests {
    /// The fenced block that follows `opening` in `text`, its lines as written.
    fn block<'a>(text: &'a str, opening: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|l| *l != opening)
            .skip(1)
            .take_while(|l| *l != "```")
            .collect()
    }

    #[test]
    fn the_readme_shows_the_compiled_example() {
        let readme = include_str!("../../../docs/integrating.md");
        let clients = &readme[readme.find("## Clients").unwrap()..];
        let shown = block(clients, "```rust,ignore");
        let source = include_str!("lib.rs");
        let doc: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect();
        let doc = doc.join("\n");
        let compiled: Vec<&str> = block(&doc, "```no_run")
            .into_iter()
            .filter(|l| !l.starts_with("# "))
            .collect();
        assert!(shown.len() >= 10, "{shown:?}");
        assert_eq!(shown, compiled);
    }
}

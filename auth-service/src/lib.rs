//! The auth service: logs users in, issues short-lived access JWTs and rotating refresh tokens, and
//! revokes them through the store.
//!
//! - [`cli`]: the command line (`--help`, `--version`, `hash-password`).
//! - [`config`]: the service's settings on top of [`shared::config`].
//! - [`app`]: [`app::App`], the state built once from configuration.
//! - [`server`]: binds and serves an [`app::App`] (tests and `main` share it).
//! - [`routes`]: one file per area; the HTTP surface (and the account page, `GET /cuenta`).
//! - [`authenticate`]: the password and second-factor steps of every login, under the account lock.
//! - [`introspection_clients`]: the backends allowed to call `/auth/introspect` (HTTP Basic), when
//!   any are configured (not the OAuth clients of [`oauth`], nor the client libraries in `clients/`).
//! - [`sessions`]: login, rotation, revocation: the domain, free of warp.
//! - [`limits`]: rate limits and brute-force locks, counted in the store.
//! - [`refusal`]: what the use cases refuse, in the domain's words (mapped to HTTP at the edge).
//! - [`identity`]: usernames, e-mails and their one normalisation.
//! - [`users`], [`passwords`]: who a user is, the users configuration declares, and argon2id.
//! - [`accounts`]: users managed live in the store (lookups, the admin API's use cases, set-password
//!   tokens, password changes, configuration applied at start).
//! - [`oauth`]: the OAuth 2.0 side: the client registry (`CLIENTS_FILE`, `/admin/clients`, the CLI).
//! - [`operator`]: `auth-service users ...`, the operators' command line for users.
//! - [`audit`]: the audit trail of admin actions and security events.
//! - [`password_policy`]: what a new password must be (length, not a common one).
//! - [`saphety`]: the SOVOS-Saphety compatible `POST /v2/auth/gettoken` shapes.
//! - [`mfa`]: TOTP enrolment, codes, recovery codes and the login challenge.
//! - [`passkeys`]: WebAuthn passkeys: registration, and assertions as the second factor or alone.
//! - [`schemas`]: OpenAPI schemas of fields whose rules the derive cannot say.
//! - [`sealing`]: keys that keep secrets at rest (MFA secrets, signing keys).
//! - [`signing`]: the asymmetric signing keys, their rotation, and the published JWKS.
//! - [`store`]: the shared state: Redis, or the embedded store.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
// The warp filter chain of every endpoint is one deep type; an optimised build checks its futures' `Unpin`
// past the default limit of 128 (E0275 in the release image build).
#![recursion_limit = "256"]
// What other crates and the tests may use is `pub` in a public module; everything else says `pub(crate)`.
#![warn(unreachable_pub)]

mod accounts;
pub mod app;
mod audit;
mod authenticate;
pub mod cli;
pub mod config;
mod identity;
mod introspection_clients;
mod limits;
mod mfa;
pub mod oauth;
pub mod operator;
mod passkeys;
mod password_policy;
pub mod passwords;
mod refusal;
pub mod routes;
mod saphety;
mod schemas;
mod sealing;
mod server;
mod sessions;
mod signing;
pub mod store;
mod users;

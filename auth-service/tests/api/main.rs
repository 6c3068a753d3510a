//! Integration tests: the real server on port 0, against a real Redis (`TEST_REDIS_URL`, the one at
//! 127.0.0.1:6379, or one started for this run: `test_support::redis_url`), each test under its own
//! key prefix so they run in parallel. One binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod clients;
mod cluster;
mod config;
mod cuenta;
mod errors;
mod feed;
mod fuzz;
mod helpers;
mod jwks;
mod limits;
mod login;
mod logout;
mod mfa;
mod oauth;
mod oidc;
mod openapi;
mod ops;
mod passkeys;
mod process;
mod recipes;
mod refresh;
mod replicas;
mod rotation;
mod saphety;
mod sentinel;
mod store;
mod tokens;
mod users;

//! Integration tests of the one-process mode: the system in process on port 0 (on the embedded store
//! or a real Redis, each test under its own key prefix), and the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod clients;
mod cuenta;
mod helpers;
mod passkeys;
mod process;
mod relying_party;
mod revocation;
mod routing;
mod rust_client;
mod startup;

//! A jsonwebtoken provider installed before ours (jsonwebtoken installs its own default for good at its
//! first use of a key) is reported, not silently kept: a process of its own, so nothing of another
//! test installs first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jsonwebtoken::{Algorithm, EncodingKey};

#[test]
fn a_provider_installed_before_ours_is_reported() {
    // A first use of a key, before `install`: jsonwebtoken takes its crate-feature default.
    let key = EncodingKey::from_ed_der(include_bytes!("../benches/keys/ed25519.pk8.der"));
    jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
    assert!(
        !shared::crypto_provider::install(),
        "ours cannot be the one in force"
    );
    // Asked again, the same answer.
    assert!(!shared::crypto_provider::install());
}

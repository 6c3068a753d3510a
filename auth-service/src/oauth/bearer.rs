//! The OpenID Provider's bearer secrets (authorization codes, request ids, browser-session cookies):
//! made here, and kept in the store only as their SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url: a code, a request id, a browser session's cookie.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The store's id of a bearer secret (a code, a cookie): its SHA-256, so the store never holds one.
pub fn hashed(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_256_bits_and_stored_hashed() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token());
        assert_eq!(hashed(&t).len(), 64);
        assert_ne!(hashed(&t), t);
    }
}

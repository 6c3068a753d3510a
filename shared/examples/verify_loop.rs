//! Verifies one access token many times; for profilers (`valgrind --tool=callgrind`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use shared::{AccessClaims, Rol, SystemClock, TokenCodec, TokenKind};

fn main() {
    let settings = shared::token::test_settings("benchmark-secret-0123456789abcdef-0123456789");
    let codec = TokenCodec::new(&settings, Arc::new(SystemClock));
    let now = codec.now_secs();
    let token = codec
        .sign(&AccessClaims {
            sub: "1".into(),
            jti: "2f1d2a6b8f0c4f0e9d1c3b5a7e9f1a2b".into(),
            sid: "8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b".into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            iss: codec.issuer().into(),
            aud: codec.audience().into(),
            typ: TokenKind::Access,
            username: "api_user".into(),
            email: "api_user@example.com".into(),
            rol: Some(Rol::Admin),
            client_id: None,
            scope: None,
        })
        .unwrap();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    for _ in 0..n {
        std::hint::black_box(
            codec
                .verify::<AccessClaims>(std::hint::black_box(&token))
                .unwrap(),
        );
    }
}

//! In-process cost of signing and verifying an access token (`cargo bench -p shared --bench tokens`).
//! Target: verification ≤ 5 µs, with the revocation check against a 100,000-entry deny set included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use shared::revocation::deny::DenySet;
use shared::revocation::{FeedEntry, Revoked};
use shared::{AccessClaims, Clock, Rol, SystemClock, TokenCodec, TokenKind};

fn claims(codec: &TokenCodec) -> AccessClaims {
    let now = codec.now_secs();
    AccessClaims {
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
        rol: Rol::Admin,
    }
}

fn tokens(c: &mut Criterion) {
    let settings = shared::token::test_settings("benchmark-secret-0123456789abcdef-0123456789");
    let codec = TokenCodec::new(&settings, Arc::new(SystemClock));
    let claims = claims(&codec);
    let token = codec.sign(&claims).unwrap();
    c.bench_function("verify access token", |b| {
        b.iter(|| codec.verify::<AccessClaims>(black_box(&token)).unwrap())
    });
    c.bench_function("sign access token", |b| {
        b.iter(|| codec.sign(black_box(&claims)).unwrap())
    });

    // A deny set as a follower of the revocation feed holds it after 100,000 revocations within the
    // last access-token life: sessions, tokens and users' cut-offs, none of them this token's.
    let now = SystemClock.now_ms();
    let mut deny = DenySet::default();
    for i in 0..100_000u32 {
        let revoked = match i % 3 {
            0 => Revoked::Session(format!("{i:032x}")),
            1 => Revoked::Token(format!("{i:032x}")),
            _ => Revoked::User {
                sub: format!("{}", 1_000 + i),
                cutoff_ms: now,
            },
        };
        deny.apply(&FeedEntry {
            revoked,
            until_ms: now + 3_600_000,
        });
    }
    assert_eq!(deny.len(), 100_000);
    let deny = std::sync::RwLock::new(deny);
    c.bench_function("deny-set check, 100,000 entries", |b| {
        b.iter(|| {
            let revoked = deny.read().unwrap().is_revoked(black_box(&claims), now);
            assert!(!revoked);
        })
    });
    c.bench_function("verify access token + deny-set check, 100,000 entries", |b| {
        b.iter(|| {
            let verified = codec.verify::<AccessClaims>(black_box(&token)).unwrap();
            let revoked = deny.read().unwrap().is_revoked(&verified, SystemClock.now_ms());
            assert!(!revoked);
        })
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);

//! In-process cost of signing and verifying an access token (`cargo bench -p shared --bench tokens`).
//! Target: verification ≤ 5 µs, with the revocation check against a 100,000-entry deny set included.
//! Then each asymmetric `JWT_ALGORITHM` next to HS256: sign, verify, and a backend's verification of a
//! token it has seen before (the verified-token cache of [`AccessVerifier`]).
//!
//! The keys under `benches/keys/` were made for this benchmark alone (`openssl genpkey`, then DER as
//! jsonwebtoken reads it: PKCS#8 for Ed25519 and P-256, PKCS#1 for RSA) and sign nothing anywhere else.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use shared::jwks::{public_jwk, AccessVerifier};
use shared::revocation::deny::DenySet;
use shared::revocation::{FeedEntry, Revoked};
use shared::token::KeyRing;
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
        rol: Some(Rol::Admin),
        client_id: None,
        scope: None,
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

/// A codec that signs access tokens with `key` under `algorithm` and verifies them with its public half,
/// as the auth service's does once it has installed its key.
fn asymmetric_codec(algorithm: Algorithm, key: EncodingKey) -> TokenCodec {
    let mut settings = shared::token::test_settings("benchmark-secret-0123456789abcdef-0123456789");
    settings.algorithm = algorithm;
    let codec = TokenCodec::new(&settings, Arc::new(SystemClock));
    let kid = format!("bench-{algorithm:?}");
    let jwk = public_jwk(&key, algorithm, &kid).unwrap();
    let public = DecodingKey::from_jwk(&jwk).unwrap();
    codec.set_access_keys(KeyRing::new(
        algorithm,
        Some((kid.clone(), key)),
        vec![(kid, public)],
    ));
    codec
}

/// The benchmark's private key of each asymmetric algorithm.
fn codec_key(name: &str) -> EncodingKey {
    match name {
        "EdDSA" => EncodingKey::from_ed_der(include_bytes!("keys/ed25519.pk8.der")),
        "ES256" => EncodingKey::from_ec_der(include_bytes!("keys/p256.pk8.der")),
        _ => EncodingKey::from_rsa_der(include_bytes!("keys/rsa2048.pkcs1.der")),
    }
}

fn algorithms(c: &mut Criterion) {
    let hs256 = TokenCodec::new(
        &shared::token::test_settings("benchmark-secret-0123456789abcdef-0123456789"),
        Arc::new(SystemClock),
    );
    let codecs = [
        ("HS256", hs256),
        ("EdDSA", asymmetric_codec(Algorithm::EdDSA, codec_key("EdDSA"))),
        ("ES256", asymmetric_codec(Algorithm::ES256, codec_key("ES256"))),
        ("RS256", asymmetric_codec(Algorithm::RS256, codec_key("RS256"))),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for (name, codec) in codecs {
        let claims = claims(&codec);
        let token = codec.sign(&claims).unwrap();
        c.bench_function(&format!("sign {name}"), |b| {
            b.iter(|| codec.sign(black_box(&claims)).unwrap())
        });
        if name != "HS256" {
            // What jsonwebtoken's own provider costs: a signer built from the key's DER every time.
            let key = codec_key(name);
            let alg = codec.access_algorithm();
            c.bench_function(&format!("sign {name}, jsonwebtoken's own provider"), |b| {
                b.iter(|| {
                    let signer =
                        (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.signer_factory)(&alg, &key)
                            .unwrap();
                    signer.try_sign(black_box(b"header.claims")).unwrap()
                })
            });
        }
        c.bench_function(&format!("verify {name}"), |b| {
            b.iter(|| codec.verify::<AccessClaims>(black_box(&token)).unwrap())
        });
        // A backend's path: the verified-token cache (asymmetric algorithms only; HS256 verifies).
        let verifier = AccessVerifier::from(Arc::new(codec));
        runtime.block_on(verifier.verify(&token)).unwrap();
        c.bench_function(&format!("verify {name}, token seen before (backend)"), |b| {
            b.iter(|| runtime.block_on(verifier.verify(black_box(&token))).unwrap())
        });
    }
}

criterion_group!(benches, tokens, algorithms);
criterion_main!(benches);

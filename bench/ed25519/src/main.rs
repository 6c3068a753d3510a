//! µs per Ed25519 signature of a 420-byte message (an access token's signing input), for each
//! well-kept Rust signer, with HMAC-SHA256 for scale. The signatures are checked equal first
//! (Ed25519 is deterministic), so each line times the same work.
//!
//! `cargo run --release` here; `RUSTFLAGS="-C target-cpu=native"` shows what a build for this one
//! CPU would gain (the images are built for any x86-64).

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::Signer;
use hmac::Mac;

/// The best of five rounds of `n` calls, in µs per call.
fn per_call(n: u32, mut f: impl FnMut() -> u8) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let message = vec![b'e'; 420];
    let seed = [7u8; 32];

    let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
    let expanded = ed25519_dalek::hazmat::ExpandedSecretKey::from(&seed);
    let public = dalek.verifying_key();
    let ring =
        ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| format!("ring: {e}"))?;
    let awslc = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|e| format!("aws-lc-rs: {e}"))?;
    let compact = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));

    let reference = dalek.sign(&message).to_bytes();
    let raw = ed25519_dalek::hazmat::raw_sign::<sha2::Sha512>(&expanded, &message, &public);
    if raw.to_bytes() != reference
        || ring.sign(&message).as_ref() != reference
        || awslc.sign(&message).as_ref() != reference
        || *compact.sk.sign(&message, None) != reference
    {
        return Err("the signers disagree on one signature".into());
    }

    let n = 3_000;
    let rows = [
        (
            "ed25519-dalek 2.2 (auth-service's until aws-lc-rs)",
            per_call(n, || dalek.sign(&message).to_bytes()[0]),
        ),
        (
            "ed25519-dalek, expanded key kept (hazmat)",
            per_call(n, || {
                ed25519_dalek::hazmat::raw_sign::<sha2::Sha512>(&expanded, &message, &public).to_bytes()[0]
            }),
        ),
        (
            "ed25519-compact 2",
            per_call(n, || compact.sk.sign(&message, None)[0]),
        ),
        ("ring 0.17", per_call(n, || ring.sign(&message).as_ref()[0])),
        ("aws-lc-rs 1 (what auth-service signs with)", per_call(n, || awslc.sign(&message).as_ref()[0])),
        (
            "HMAC-SHA256 (HS256), for scale",
            per_call(n, || {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[1u8; 64])
                    .expect("HMAC takes a key of any length");
                mac.update(&message);
                mac.finalize().into_bytes()[0]
            }),
        ),
    ];
    for (signer, micros) in rows {
        println!("{signer:<46} {micros:7.2} µs per signature");
    }
    Ok(())
}

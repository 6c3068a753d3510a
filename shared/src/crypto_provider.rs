//! jsonwebtoken's cryptography, with each Ed25519, P-256 and RSA signing key parsed once and signing
//! done by aws-lc-rs.
//!
//! jsonwebtoken builds a new signer from the key's DER on every `encode`. For Ed25519 and P-256 that
//! derives the public key again: a scalar multiplication, as costly as the signature itself, so every
//! access token cost two; for RSA (the RS256 ID tokens) it parses the key and recomputes and checks
//! its CRT values. This provider is jsonwebtoken's own RustCrypto one (every verifier and key
//! utility, and every other signer) but for those three signers, which it keeps parsed by their DER,
//! a handful at most (the keys being rotated in and out).
//!
//! Those three sign with aws-lc-rs (AWS-LC, whose Ed25519 is s2n-bignum's verified assembly): an
//! Ed25519 signature costs half what ed25519-dalek's does (`bench/ed25519`), and a refresh with EdDSA
//! signs one (BENCHMARKS.md, "Refresh at the token endpoint"). Ed25519 and PKCS#1 v1.5 signatures are
//! deterministic, so they are the very bytes the default provider makes; ECDSA's are randomized and
//! checked by verifying them. Both are checked in this module's test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature as lc;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Error as SignError};
use jsonwebtoken::{Algorithm, EncodingKey};

/// Keys kept parsed at most; past it the cache starts over (a rotation adds one key a month).
const MAX_KEYS: usize = 16;

#[derive(Clone)]
enum Parsed {
    Ed25519(Arc<lc::Ed25519KeyPair>),
    P256(Arc<lc::EcdsaKeyPair>),
    Rs256(Arc<lc::RsaKeyPair>),
}

struct CachedSigner(Parsed);

impl signature::Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(match &self.0 {
            Parsed::Ed25519(key) => key.sign(msg).as_ref().to_vec(),
            Parsed::P256(key) => key
                .sign(&SystemRandom::new(), msg)
                .map_err(SignError::from_source)?
                .as_ref()
                .to_vec(),
            Parsed::Rs256(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&lc::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut signature)
                    .map_err(SignError::from_source)?;
                signature
            }
        })
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

impl Parsed {
    fn algorithm(&self) -> Algorithm {
        match self {
            Parsed::Ed25519(_) => Algorithm::EdDSA,
            Parsed::P256(_) => Algorithm::ES256,
            Parsed::Rs256(_) => Algorithm::RS256,
        }
    }
}

/// The parsed keys, by DER (looked up by the key's bytes as they are: no copy on the signing path).
type Cache = Mutex<HashMap<Vec<u8>, Parsed>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `der` as the key jsonwebtoken's `EncodingKey` holds for `algorithm` (PKCS#8 for Ed25519 and P-256,
/// PKCS#1 for RSA), ready to sign; `None` for another algorithm.
fn parse(algorithm: Algorithm, der: &[u8]) -> Option<Result<Parsed, String>> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| e.to_string();
    Some(match algorithm {
        Algorithm::EdDSA => lc::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(|k| Parsed::Ed25519(Arc::new(k)))
            .map_err(rejected),
        Algorithm::ES256 => lc::EcdsaKeyPair::from_pkcs8(&lc::ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map(|k| Parsed::P256(Arc::new(k)))
            .map_err(rejected),
        Algorithm::RS256 => lc::RsaKeyPair::from_der(der)
            .map(|k| Parsed::Rs256(Arc::new(k)))
            .map_err(rejected),
        _ => return None,
    })
}

/// Whether this provider can sign with `der` (as [`parse`] takes it) under `algorithm`, and if not,
/// why: a key file is checked with it at start, so a key the signer refuses (an RSA key under 2048
/// bits, say) stops the start instead of failing every token.
pub fn check_signing_key(algorithm: Algorithm, der: &[u8]) -> Result<(), String> {
    match parse(algorithm, der) {
        Some(Err(why)) => Err(why),
        _ => Ok(()),
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if !matches!(algorithm, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256) {
        return (DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    let der = key.as_bytes();
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parsed) = cache.get(der).filter(|p| p.algorithm() == *algorithm) {
        return Ok(Box::new(CachedSigner(parsed.clone())));
    }
    let Some(Ok(parsed)) = parse(*algorithm, key.as_bytes()) else {
        // What the default provider says of a key it cannot read.
        drop(cache);
        return (DEFAULT_PROVIDER.signer_factory)(algorithm, key)
            .and_then(|_| Err(Error::from(ErrorKind::InvalidKeyFormat)));
    };
    if cache.len() >= MAX_KEYS {
        cache.clear();
    }
    cache.insert(der.to_vec(), parsed.clone());
    Ok(Box::new(CachedSigner(parsed)))
}

/// Installs the provider for this process, once; later calls leave it as it is. Call before
/// jsonwebtoken's first use of any key (its first use installs its own default provider for good):
/// [`crate::token::TokenCodec::new`] and [`crate::jwks::public_jwk`] do. If another provider was
/// installed first, it stays, and this says so in the log. Whether this provider is the one in force.
pub fn install() -> bool {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    // The first attempt decides: a process installs one provider, once (jsonwebtoken's `install_default`
    // hands back the provider it was given when one was there before, so that cannot tell whose).
    static FIRST_ATTEMPT: OnceLock<bool> = OnceLock::new();
    *FIRST_ATTEMPT.get_or_init(|| {
        let provider = PROVIDER.get_or_init(|| CryptoProvider {
            signer_factory: signer,
            verifier_factory: DEFAULT_PROVIDER.verifier_factory,
            key_utils: DEFAULT_PROVIDER.key_utils.clone(),
        });
        let ours = provider.install_default().is_ok();
        if !ours {
            tracing::warn!(
                "another jsonwebtoken crypto provider was installed first: asymmetric tokens are signed by it, not aws-lc-rs"
            );
        }
        ours
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Header, Validation};

    #[test]
    fn cached_signers_make_tokens_the_default_provider_verifies() {
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let key = match algorithm {
                Algorithm::EdDSA => {
                    EncodingKey::from_ed_der(include_bytes!("../benches/keys/ed25519.pk8.der"))
                }
                Algorithm::RS256 => {
                    EncodingKey::from_rsa_der(include_bytes!("../benches/keys/rsa2048.pkcs1.der"))
                }
                _ => EncodingKey::from_ec_der(include_bytes!("../benches/keys/p256.pk8.der")),
            };
            let jwk = crate::jwks::public_jwk(&key, algorithm, "k").unwrap();
            let public = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(algorithm);
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            // This provider's signer itself (not the process's default, which another test may
            // have installed first).
            let ours = signer(&algorithm, &key).unwrap();
            assert_eq!(ours.algorithm(), algorithm);
            let b64 = |bytes: &[u8]| {
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
            };
            for n in 0..3 {
                let header = serde_json::to_vec(&Header::new(algorithm)).unwrap();
                let claims = serde_json::to_vec(&serde_json::json!({"n": n})).unwrap();
                let message = format!("{}.{}", b64(&header), b64(&claims));
                let token = format!("{message}.{}", b64(&ours.sign(message.as_bytes())));
                let claims = decode::<serde_json::Value>(&token, &public, &validation)
                    .unwrap()
                    .claims;
                assert_eq!(claims["n"], n, "{algorithm:?}");
            }
            // Ed25519 and PKCS#1 v1.5 signatures are deterministic: the same bytes as the default
            // provider's.
            if algorithm != Algorithm::ES256 {
                let message = b"header.claims";
                let theirs = (DEFAULT_PROVIDER.signer_factory)(&algorithm, &key)
                    .unwrap()
                    .sign(message);
                assert_eq!(ours.sign(message), theirs, "{algorithm:?}");
            }
        }
        assert!(cache().lock().unwrap().len() >= 3);
    }

    #[test]
    fn a_key_the_signer_cannot_use_is_refused_with_the_reason() {
        let ed = include_bytes!("../benches/keys/ed25519.pk8.der");
        let p256 = include_bytes!("../benches/keys/p256.pk8.der");
        let rsa = include_bytes!("../benches/keys/rsa2048.pkcs1.der");
        assert_eq!(check_signing_key(Algorithm::EdDSA, ed), Ok(()));
        assert_eq!(check_signing_key(Algorithm::ES256, p256), Ok(()));
        assert_eq!(check_signing_key(Algorithm::RS256, rsa), Ok(()));
        // A 1024-bit RSA key reads, but AWS-LC will not sign with it.
        let short = include_bytes!("../benches/keys/rsa1024.pkcs1.der");
        let why = check_signing_key(Algorithm::RS256, short).unwrap_err();
        assert!(!why.is_empty());
        // A key of another algorithm, and bytes that are no key.
        assert!(check_signing_key(Algorithm::EdDSA, p256).is_err());
        assert!(check_signing_key(Algorithm::ES256, ed).is_err());
        assert!(check_signing_key(Algorithm::RS256, b"not a key").is_err());
        // HMAC keys are not this provider's to read.
        assert_eq!(check_signing_key(Algorithm::HS256, b"any"), Ok(()));
        // And the signer for a refused key is an error, as the default provider's is for a key it
        // cannot read.
        let refused = EncodingKey::from_rsa_der(short);
        let error = signer(&Algorithm::RS256, &refused).err().unwrap();
        assert_eq!(error.kind(), &ErrorKind::InvalidKeyFormat);
    }
}

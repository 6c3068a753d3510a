//! jsonwebtoken's cryptography, with each Ed25519, P-256 and RSA signing key parsed once.
//!
//! jsonwebtoken builds a new signer from the key's DER on every `encode`. For Ed25519 and P-256 that
//! derives the public key again: a scalar multiplication, as costly as the signature itself, so every
//! access token cost two; for RSA (the RS256 ID tokens) it parses the key and recomputes and checks
//! its CRT values. This provider is jsonwebtoken's own RustCrypto one (every verifier and key
//! utility, and every other signer) but for those three signers, which it keeps parsed by their DER,
//! a handful at most (the keys being rotated in and out). RSA signs with blinding, as the default
//! does. The signatures are the same bytes the default provider makes (Ed25519 and PKCS#1 v1.5 are
//! deterministic): the conformance of both is checked in this module's test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, EncodingKey};

/// Keys kept parsed at most; past it the cache starts over (a rotation adds one key a month).
const MAX_KEYS: usize = 16;

#[derive(Clone)]
enum Parsed {
    Ed25519(Arc<ed25519_dalek::SigningKey>),
    P256(Arc<p256::ecdsa::SigningKey>),
    Rs256(Arc<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

struct CachedSigner(Parsed);

impl ed25519_dalek::ed25519::signature::Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::ed25519::signature::Error> {
        Ok(match &self.0 {
            Parsed::Ed25519(key) => key.sign(msg).to_bytes().to_vec(),
            Parsed::P256(key) => {
                let signature: p256::ecdsa::Signature = key.try_sign(msg)?;
                signature.to_bytes().to_vec()
            }
            Parsed::Rs256(key) => {
                use rsa::signature::{RandomizedSigner, SignatureEncoding};
                key.try_sign_with_rng(&mut rand::thread_rng(), msg)?.to_vec()
            }
        })
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        match self.0 {
            Parsed::Ed25519(_) => Algorithm::EdDSA,
            Parsed::P256(_) => Algorithm::ES256,
            Parsed::Rs256(_) => Algorithm::RS256,
        }
    }
}

/// The parsed keys, by algorithm and DER.
type Cache = Mutex<HashMap<(Algorithm, Vec<u8>), Parsed>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn parse(algorithm: Algorithm, der: &[u8]) -> Option<Parsed> {
    match algorithm {
        Algorithm::EdDSA => ed25519_dalek::SigningKey::from_pkcs8_der(der)
            .ok()
            .map(|k| Parsed::Ed25519(Arc::new(k))),
        Algorithm::ES256 => p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .ok()
            .map(|k| Parsed::P256(Arc::new(k))),
        Algorithm::RS256 => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::RsaPrivateKey::from_pkcs1_der(der)
                .ok()
                .map(|k| Parsed::Rs256(Arc::new(rsa::pkcs1v15::SigningKey::new(k))))
        }
        _ => None,
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if !matches!(algorithm, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256) {
        return (DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    let id = (*algorithm, key.as_bytes().to_vec());
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parsed) = cache.get(&id) {
        return Ok(Box::new(CachedSigner(parsed.clone())));
    }
    let Some(parsed) = parse(*algorithm, key.as_bytes()) else {
        // What the default provider says of a key it cannot read.
        drop(cache);
        return (DEFAULT_PROVIDER.signer_factory)(algorithm, key)
            .and_then(|_| Err(Error::from(ErrorKind::InvalidKeyFormat)));
    };
    if cache.len() >= MAX_KEYS {
        cache.clear();
    }
    cache.insert(id, parsed.clone());
    Ok(Box::new(CachedSigner(parsed)))
}

/// Installs the provider for this process, once; later calls (and a provider installed first) leave
/// it as it is. Call before the first token is signed.
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: signer,
        verifier_factory: DEFAULT_PROVIDER.verifier_factory,
        key_utils: DEFAULT_PROVIDER.key_utils.clone(),
    });
    let _ = provider.install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, DecodingKey, Header, Validation};

    #[test]
    fn cached_signers_make_tokens_the_default_provider_verifies() {
        install();
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
            for _ in 0..3 {
                let token = encode(&Header::new(algorithm), &serde_json::json!({"n": 1}), &key).unwrap();
                let claims = decode::<serde_json::Value>(&token, &public, &validation)
                    .unwrap()
                    .claims;
                assert_eq!(claims["n"], 1, "{algorithm:?}");
            }
            // Ed25519 and PKCS#1 v1.5 signatures are deterministic: the same bytes as the default
            // provider's.
            if algorithm != Algorithm::ES256 {
                let message = b"header.claims";
                let ours = jsonwebtoken::crypto::sign(message, &key, algorithm).unwrap();
                let theirs = (DEFAULT_PROVIDER.signer_factory)(&algorithm, &key)
                    .unwrap()
                    .sign(message);
                assert_eq!(
                    ours,
                    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, theirs)
                );
            }
        }
        assert!(cache().lock().unwrap().len() >= 3);
    }
}

//! The keys asymmetric tokens are signed with (`JWT_ALGORITHM` = EdDSA, ES256 or RS256), and the public
//! set published at `GET /.well-known/jwks.json`.
//!
//! Keys are made here and kept in the store, shared by every replica: each record holds the public
//! JWK and the private key (PKCS#8 DER; PKCS#1 for RSA) sealed with ChaCha20-Poly1305 under
//! `KEY_ENCRYPTION_KEY`, with the key id as associated data. Or one key comes from
//! `JWT_PRIVATE_KEY_FILE` (PKCS#8 PEM), managed by the operator: it is never rotated here.
//!
//! Each algorithm has a chain of keys, by activation time; a key's id is its RFC 7638 thumbprint.
//!
//! - **Signing:** the newest key already active. A new key is added [`SigningKeys::publish_lead`] (the
//!   JWKS cache lifetime, `JWKS_CACHE_SECONDS`) before it activates, so every backend holding the set has
//!   fetched it again, with the new key, before the first token signed with it.
//! - **Rotation:** every `JWT_KEY_ROTATION_DAYS` (30) a new key is added to activate when the signing
//!   one has been active that long; `auth-service keys rotate` adds one to activate after the lead. The
//!   store adds a key only if the newest key of its algorithm is still the one the replica saw
//!   ([`crate::store::KeyStore::add_signing_key`]), so replicas rotating at once add one key, not two.
//! - **Retirement:** a key stays published until every token it signed has expired (the longest token
//!   life after its successor activated, plus leeway), then it is removed from the store.
//!
//! Every replica reads the keys again every few seconds ([`SigningKeys::spawn`]), so all sign with the
//! same key once it activates, and installs them in the codec ([`TokenCodec::set_access_keys`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::rngs::OsRng;
use serde::Serialize;
use shared::token::{is_hmac, KeyRing};
use shared::{SharedClock, TokenCodec};

use crate::sealing::SealingKey;
use crate::store::{KeyStore, SigningKeyRecord, StoreError};

/// How often every replica reads the keys again (and rotates, when due).
pub(crate) const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Why keys could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored private key does not open: `KEY_ENCRYPTION_KEY` is not the one it was sealed with.
    #[error("the signing key {kid} cannot be opened: KEY_ENCRYPTION_KEY is not the key the signing keys were sealed with")]
    Unseal { kid: String },
    #[error("{0}")]
    Key(String),
}

/// A key that signs: its id and the key.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// What `keys list` shows of a key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not yet signing), `signing`, or `retiring` (published until its last token
    /// expires).
    pub state: &'static str,
    pub created_ms: i64,
    pub activate_ms: i64,
}

/// The keys as last read: per algorithm, the one that signs and the published set.
#[derive(Default)]
struct Loaded {
    signers: BTreeMap<String, Signer>,
    /// The JWKS document served at `/.well-known/jwks.json`.
    jwks: Arc<str>,
    /// Every public key, as the verifying keys of each algorithm's ring.
    public: Vec<(String, Algorithm, Jwk)>,
}

/// Where private keys come from.
enum Source {
    /// Made here, sealed in the store.
    Store { sealer: SealingKey, rotation: Duration },
    /// One key, from `JWT_PRIVATE_KEY_FILE`.
    File(Box<(Signer, Jwk)>),
}

/// See the module doc.
pub struct SigningKeys {
    store: Arc<dyn KeyStore>,
    source: Source,
    /// The algorithms that need keys: the access tokens' (an asymmetric `JWT_ALGORITHM`).
    algorithms: Vec<Algorithm>,
    codec: Arc<TokenCodec>,
    clock: SharedClock,
    publish_lead: Duration,
    /// The longest any token signed by these keys lives, plus leeway.
    max_token_life: Duration,
    loaded: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The JWT name of an algorithm, as stored.
pub(crate) fn alg_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EdDSA => "EdDSA",
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        _ => "unsupported",
    }
}

pub(crate) fn alg_of(name: &str) -> Option<Algorithm> {
    match name {
        "EdDSA" => Some(Algorithm::EdDSA),
        "ES256" => Some(Algorithm::ES256),
        "RS256" => Some(Algorithm::RS256),
        _ => None,
    }
}

/// The encoding key of `der` (PKCS#8; PKCS#1 for RSA), as jsonwebtoken takes it.
fn encoding_key(algorithm: Algorithm, der: &[u8]) -> EncodingKey {
    match algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_der(der),
        Algorithm::ES256 => EncodingKey::from_ec_der(der),
        _ => EncodingKey::from_rsa_der(der),
    }
}

/// A new private key of `algorithm`, as the DER [`encoding_key`] takes.
pub(crate) fn generate(algorithm: Algorithm) -> Result<Vec<u8>, KeyError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let der = match algorithm {
        Algorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            // PKCS#8 v1 (the seed alone): what jsonwebtoken reads back.
            ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map_err(|e| KeyError::Key(e.to_string()))?
            .as_bytes()
            .to_vec()
        }
        Algorithm::ES256 => p256::SecretKey::random(&mut OsRng)
            .to_pkcs8_der()
            .map_err(|e| KeyError::Key(e.to_string()))?
            .as_bytes()
            .to_vec(),
        Algorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .and_then(|k| k.to_pkcs1_der().map_err(Into::into))
                .map_err(|e| KeyError::Key(e.to_string()))?
                .as_bytes()
                .to_vec()
        }
        other => return Err(KeyError::Key(format!("{other:?} has no key pair"))),
    };
    Ok(der)
}

/// A private key from a PKCS#8 PEM file's text, for `algorithm`, as the DER [`encoding_key`] takes.
pub(crate) fn from_pem(algorithm: Algorithm, pem: &str) -> Result<Vec<u8>, String> {
    use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    let bad =
        |e: &dyn std::fmt::Display| format!("is not a PKCS#8 PEM {} private key ({e})", alg_name(algorithm));
    let der = match algorithm {
        Algorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| bad(&e))?;
            ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| bad(&e))
        }
        Algorithm::ES256 => p256::SecretKey::from_pkcs8_pem(pem)
            .map_err(|e| bad(&e))?
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| bad(&e)),
        Algorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            rsa::RsaPrivateKey::from_pkcs8_pem(pem)
                .map_err(|e| bad(&e))?
                .to_pkcs1_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| bad(&e))
        }
        other => Err(format!("{other:?} takes no key file")),
    }?;
    // A key that reads but that the signer refuses (RSA under 2048 bits) stops the start here.
    shared::crypto_provider::check_signing_key(algorithm, &der)
        .map_err(|e| format!("cannot sign {} tokens ({e})", alg_name(algorithm)))?;
    Ok(der)
}

/// The public JWK of a private key and its id (the RFC 7638 thumbprint).
fn public_of(algorithm: Algorithm, key: &EncodingKey) -> Result<(String, Jwk), KeyError> {
    let unnamed = shared::jwks::public_jwk(key, algorithm, "").map_err(KeyError::Key)?;
    let kid = unnamed
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError::Key(e.to_string()))?;
    let jwk = shared::jwks::public_jwk(key, algorithm, &kid).map_err(KeyError::Key)?;
    Ok((kid, jwk))
}

impl SigningKeys {
    /// Keys made here and kept in the store, sealed with `sealer`, rotated every `rotation`.
    #[allow(clippy::too_many_arguments)]
    pub fn in_store(
        store: Arc<dyn KeyStore>,
        sealer: SealingKey,
        rotation: Duration,
        algorithms: Vec<Algorithm>,
        codec: Arc<TokenCodec>,
        clock: SharedClock,
        publish_lead: Duration,
        max_token_life: Duration,
    ) -> Self {
        Self {
            store,
            source: Source::Store { sealer, rotation },
            algorithms,
            codec,
            clock,
            publish_lead,
            max_token_life,
            loaded: RwLock::default(),
        }
    }

    /// One key from `JWT_PRIVATE_KEY_FILE`'s text (for `algorithm`, the access tokens'); installed at
    /// once.
    pub fn from_file(
        store: Arc<dyn KeyStore>,
        algorithm: Algorithm,
        pem: &str,
        codec: Arc<TokenCodec>,
        clock: SharedClock,
        publish_lead: Duration,
    ) -> Result<Self, String> {
        let der = from_pem(algorithm, pem)?;
        let key = encoding_key(algorithm, &der);
        let (kid, jwk) = public_of(algorithm, &key).map_err(|e| e.to_string())?;
        let signer = Signer { kid, algorithm, key };
        let keys = Self {
            store,
            source: Source::File(Box::new((signer, jwk))),
            algorithms: vec![algorithm],
            codec,
            clock,
            publish_lead,
            max_token_life: Duration::ZERO,
            loaded: RwLock::default(),
        };
        keys.install_file();
        Ok(keys)
    }

    /// How long before it signs a new key is published: the JWKS cache lifetime.
    pub fn publish_lead(&self) -> Duration {
        self.publish_lead
    }

    fn loaded(&self) -> Arc<Loaded> {
        Arc::clone(&self.loaded.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The JWKS document to serve.
    pub fn jwks(&self) -> Arc<str> {
        let loaded = self.loaded();
        if loaded.jwks.is_empty() {
            return r#"{"keys":[]}"#.into();
        }
        Arc::clone(&loaded.jwks)
    }

    /// The key that signs `algorithm` tokens now, if any.
    pub fn signer(&self, algorithm: Algorithm) -> Option<Signer> {
        self.loaded().signers.get(alg_name(algorithm)).cloned()
    }

    /// The published key `kid` names, to verify a token of this service with (an `id_token_hint`).
    pub fn verifying_key(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        let loaded = self.loaded();
        let (_, algorithm, jwk) = loaded.public.iter().find(|(k, _, _)| k == kid)?;
        DecodingKey::from_jwk(jwk).ok().map(|key| (*algorithm, key))
    }

    /// Whether every algorithm has a key that signs (for `/ready`).
    pub fn ready(&self) -> Result<(), StoreError> {
        let loaded = self.loaded();
        if self
            .algorithms
            .iter()
            .all(|a| loaded.signers.contains_key(alg_name(*a)))
        {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "the signing keys are not loaded yet".into(),
            ))
        }
    }

    fn install_file(&self) {
        let Source::File(file) = &self.source else {
            return;
        };
        let (signer, jwk) = &**file;
        let mut signers = BTreeMap::new();
        signers.insert(alg_name(signer.algorithm).to_string(), signer.clone());
        self.install(Loaded {
            signers,
            jwks: shared::jwks::document(vec![jwk.clone()]).into(),
            public: vec![(signer.kid.clone(), signer.algorithm, jwk.clone())],
        });
    }

    /// Puts `loaded` in force: the codec signs access tokens with the access algorithm's key and
    /// verifies with every published key of that algorithm.
    fn install(&self, loaded: Loaded) {
        let access = self.codec.access_algorithm();
        if !is_hmac(access) {
            let verifying = loaded
                .public
                .iter()
                .filter(|(_, alg, _)| *alg == access)
                .filter_map(|(kid, _, jwk)| DecodingKey::from_jwk(jwk).ok().map(|k| (kid.clone(), k)))
                .collect();
            let signing = loaded
                .signers
                .get(alg_name(access))
                .map(|s| (s.kid.clone(), s.key.clone()));
            self.codec
                .set_access_keys(KeyRing::new(access, signing, verifying));
        }
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
    }

    /// Reads the keys from the store, adds the ones due (a first key, a rotation), removes the ones
    /// retired, and installs them (see the module doc). A key that does not open stops here with
    /// [`KeyError::Unseal`].
    pub async fn reload(&self) -> Result<(), KeyError> {
        let (sealer, rotation) = match &self.source {
            Source::File(..) => return Ok(()),
            Source::Store { sealer, rotation } => (sealer, *rotation),
        };
        let now = self.clock.now_ms();
        let mut records = self.store.signing_keys().await?;
        let lead = self.publish_lead.as_millis() as i64;
        let period = rotation.as_millis() as i64;
        for algorithm in &self.algorithms {
            let chain = chain_of(&records, *algorithm);
            let newest = chain.last();
            let due = match newest {
                // None yet: one that signs at once (no token can be signed without it).
                None => Some(now),
                // The newest is active and has signed a period (less the lead): the next is published
                // now, to sign a period after it began (a lead from now at the earliest).
                Some(n) if n.activate_ms <= now && n.activate_ms + period <= now + lead => {
                    Some((n.activate_ms + period).max(now + lead))
                }
                _ => None,
            };
            if let Some(activate_ms) = due {
                let record = self.make(*algorithm, sealer, now, activate_ms)?;
                if self
                    .store
                    .add_signing_key(&record, newest.map(|n| n.kid.as_str()))
                    .await?
                {
                    tracing::info!(kid = %record.kid, alg = %record.alg, activate_ms, "signing key added");
                }
                // Added, or another replica added one first: read them again either way.
                records = self.store.signing_keys().await?;
            }
        }
        let retired = self.retired(&records, now);
        if !retired.is_empty() {
            self.store.remove_signing_keys(&retired).await?;
            tracing::info!(keys = retired.len(), "retired signing keys removed");
            records.retain(|r| !retired.contains(&r.kid));
        }
        self.install(self.open(&records, sealer, now)?);
        Ok(())
    }

    /// Adds a key of `algorithm` now, to sign after the publish lead (`auth-service keys rotate`).
    pub async fn rotate(&self, algorithm: Algorithm) -> Result<SigningKeyRecord, KeyError> {
        let Source::Store { sealer, .. } = &self.source else {
            return Err(KeyError::Key(
                "the key comes from JWT_PRIVATE_KEY_FILE: replace the file to rotate it".into(),
            ));
        };
        for _ in 0..3 {
            let records = self.store.signing_keys().await?;
            let chain = chain_of(&records, algorithm);
            let newest = chain.last();
            // This host's clock may be off (the CLI runs anywhere): the lead counts from the store's
            // time, and from no earlier than the newest key's making; and the key activates after
            // the newest key, or the keys' order by activation would part from the store's order of
            // addition and every later rotation would find another "newest" than the store's, and
            // stall.
            let now = chain
                .iter()
                .map(|r| r.created_ms)
                .fold(self.store.store_now_ms().await?, i64::max);
            let activate_ms = newest
                .map_or(i64::MIN, |n| n.activate_ms + 1)
                .max(now + self.publish_lead.as_millis() as i64);
            let newest = newest.map(|r| r.kid.clone());
            let record = self.make(algorithm, sealer, now, activate_ms)?;
            if self.store.add_signing_key(&record, newest.as_deref()).await? {
                tracing::info!(kid = %record.kid, alg = %record.alg, "signing key rotation forced");
                return Ok(record);
            }
        }
        Err(KeyError::Key(
            "the keys kept changing under the rotation; try again".into(),
        ))
    }

    /// Every key as stored, and its state.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        if let Source::File(file) = &self.source {
            let signer = &file.0;
            return Ok(vec![KeyInfo {
                kid: signer.kid.clone(),
                alg: alg_name(signer.algorithm).into(),
                state: "signing",
                created_ms: 0,
                activate_ms: 0,
            }]);
        }
        let now = self.clock.now_ms();
        let records = self.store.signing_keys().await?;
        let mut out = Vec::new();
        for algorithm in &self.algorithms {
            let chain = chain_of(&records, *algorithm);
            let signing = chain
                .iter()
                .rev()
                .find(|r| r.activate_ms <= now)
                .map(|r| r.kid.clone());
            for r in chain {
                out.push(KeyInfo {
                    kid: r.kid.clone(),
                    alg: r.alg.clone(),
                    state: if r.activate_ms > now {
                        "next"
                    } else if Some(&r.kid) == signing.as_ref() {
                        "signing"
                    } else {
                        "retiring"
                    },
                    created_ms: r.created_ms,
                    activate_ms: r.activate_ms,
                });
            }
        }
        Ok(out)
    }

    /// A new key's record, its private half sealed.
    fn make(
        &self,
        algorithm: Algorithm,
        sealer: &SealingKey,
        now: i64,
        activate_ms: i64,
    ) -> Result<SigningKeyRecord, KeyError> {
        let der = generate(algorithm)?;
        let key = encoding_key(algorithm, &der);
        let (kid, jwk) = public_of(algorithm, &key)?;
        Ok(SigningKeyRecord {
            sealed: sealer
                .seal(&kid, &der)
                .map_err(|e| KeyError::Key(e.to_string()))?,
            public_jwk: serde_json::to_string(&jwk).map_err(|e| KeyError::Key(e.to_string()))?,
            kid,
            alg: alg_name(algorithm).into(),
            created_ms: now,
            activate_ms,
        })
    }

    /// The keys no token can name any more: superseded (a newer key of its algorithm active) longer
    /// ago than the longest token life, plus two reload intervals: a replica that has not read the
    /// keys again since the new one became active still signs with the old one, for up to one
    /// interval (the second allows for its clock being behind).
    fn retired(&self, records: &[SigningKeyRecord], now: i64) -> Vec<String> {
        let life = (self.max_token_life + 2 * RELOAD_EVERY).as_millis() as i64;
        let mut out = Vec::new();
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let chain = chain_of(records, algorithm);
            for pair in chain.windows(2) {
                if let [old, next] = pair {
                    if next.activate_ms <= now && next.activate_ms + life < now {
                        out.push(old.kid.clone());
                    }
                }
            }
        }
        out
    }

    /// Opens the keys: the active one of each algorithm signs, every one is published.
    fn open(&self, records: &[SigningKeyRecord], sealer: &SealingKey, now: i64) -> Result<Loaded, KeyError> {
        let mut loaded = Loaded::default();
        let mut jwks = Vec::new();
        for algorithm in &self.algorithms {
            let chain = chain_of(records, *algorithm);
            // The newest key already active; on a clock behind every key's activation (a replica
            // whose clock is late, a clock stepped back), the oldest, rather than none.
            let active = chain
                .iter()
                .rev()
                .find(|r| r.activate_ms <= now)
                .or_else(|| chain.first());
            if let Some(active) = active {
                let der = sealer
                    .open(&active.kid, &active.sealed)
                    .map_err(|_| KeyError::Unseal {
                        kid: active.kid.clone(),
                    })?;
                loaded.signers.insert(
                    active.alg.clone(),
                    Signer {
                        kid: active.kid.clone(),
                        algorithm: *algorithm,
                        key: encoding_key(*algorithm, &der),
                    },
                );
            }
            for r in chain {
                let jwk: Jwk = serde_json::from_str(&r.public_jwk)
                    .map_err(|e| KeyError::Key(format!("the public key of {} does not parse: {e}", r.kid)))?;
                jwks.push(jwk.clone());
                loaded.public.push((r.kid.clone(), *algorithm, jwk));
            }
        }
        loaded.jwks = shared::jwks::document(jwks).into();
        Ok(loaded)
    }

    /// Reads the keys again every [`RELOAD_EVERY`] (and rotates when due); failures are logged and
    /// the keys in force go on signing.
    pub fn spawn(self: &Arc<Self>) {
        if matches!(self.source, Source::File(..)) {
            return;
        }
        let keys = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "signing keys: reading them again failed; the keys in force go on");
                }
            }
        });
    }
}

/// The keys of `algorithm`, oldest activation first.
fn chain_of(records: &[SigningKeyRecord], algorithm: Algorithm) -> Vec<&SigningKeyRecord> {
    let mut chain: Vec<&SigningKeyRecord> = records
        .iter()
        .filter(|r| alg_of(&r.alg) == Some(algorithm))
        .collect();
    chain.sort_by_key(|r| (r.activate_ms, r.created_ms));
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_the_signer_refuses_is_refused_when_read() {
        use rsa::pkcs8::EncodePrivateKey as _;
        let short = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let pem = short.to_pkcs8_pem(Default::default()).unwrap();
        let why = from_pem(Algorithm::RS256, &pem).unwrap_err();
        assert!(why.starts_with("cannot sign RS256 tokens ("), "{why}");
        let long = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let pem = long.to_pkcs8_pem(Default::default()).unwrap();
        assert!(from_pem(Algorithm::RS256, &pem).is_ok());
    }

    #[test]
    fn generated_keys_sign_and_their_jwk_verifies_and_holds_nothing_private() {
        for algorithm in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let der = generate(algorithm).unwrap();
            let key = encoding_key(algorithm, &der);
            let (kid, jwk) = public_of(algorithm, &key).unwrap();
            let json = serde_json::to_value(&jwk).unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(json.get(private).is_none(), "{algorithm:?} publishes {private}");
            }
            assert_eq!(json["kid"], kid.as_str());
            assert_eq!(json["use"], "sig");
            let mut header = jsonwebtoken::Header::new(algorithm);
            header.kid = Some(kid);
            let token = jsonwebtoken::encode(
                &header,
                &serde_json::json!({"sub": "1", "exp": 4_000_000_000u64}),
                &key,
            )
            .unwrap();
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(algorithm);
            validation.validate_aud = false;
            assert!(
                jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).is_ok(),
                "{algorithm:?}"
            );
        }
    }
}

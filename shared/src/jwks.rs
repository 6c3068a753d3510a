//! JSON Web Key Sets (RFC 7517): the public keys of asymmetric access tokens, as the auth service
//! publishes them (`GET /.well-known/jwks.json`) and as a backend verifies with them.
//!
//! - [`public_jwk`]: the public half of a signing key, as a JWK (`kty`, `kid`, `alg`, `use: "sig"`,
//!   and `crv`/`x`/`y` or `n`/`e`): never a private or symmetric member.
//! - [`ring_of`]: the verifying keys of a set for one algorithm. Keys of another algorithm, for
//!   another use, symmetric ones and ones carrying private members are left out, so a set can never
//!   make an HMAC secret or a key of another algorithm verify a token.
//! - [`JwksFollower`]: a backend's copy of a published set (`JWT_JWKS_URL`): fetched at start (and
//!   every second until it is held: until then the backend is not ready, and no token verifies), again
//!   when the set's cache lifetime (`Cache-Control: max-age`) has passed, and again when a token names
//!   a `kid` the set lacks, at most once per [`REFETCH_AT_MOST_EVERY`], so a flood of made-up `kid`s
//!   costs the auth service one fetch every few seconds. When the auth service does not answer, the
//!   set held goes on verifying.
//! - [`AccessVerifier`]: verification as a backend does it: the codec, the followed set, and a bounded
//!   cache of tokens already verified (asymmetric signatures cost tens of microseconds, and a backend
//!   sees the same token many times in its life), each kept until its `exp`. Revocation is not cached:
//!   it is still asked on every request ([`crate::http::live_access_claims`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::claims::AccessClaims;
use crate::config::JWT_LEEWAY_SECS;
use crate::store::StoreError;
use crate::token::{is_hmac, KeyRing, TokenCodec, TokenError, UNKNOWN_KID};

/// The least time between two fetches of a set caused by unknown `kid`s.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(5);

/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a set is kept before it is fetched again when its answer says nothing (`max-age`); and
/// the bounds put on what it says.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
const MIN_MAX_AGE: Duration = Duration::from_secs(5);
const MAX_MAX_AGE: Duration = Duration::from_secs(3600);

/// The public JWK of `key` (a private key of `algorithm`), named `kid`.
pub fn public_jwk(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> Result<Jwk, String> {
    crate::crypto_provider::install();
    let mut jwk = Jwk::from_encoding_key(key, algorithm).map_err(|e| e.to_string())?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err("an HMAC secret has no public key to publish".into());
    }
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// The JWK algorithm name of a JWT algorithm.
fn key_algorithm(algorithm: Algorithm) -> Option<KeyAlgorithm> {
    match algorithm {
        Algorithm::EdDSA => Some(KeyAlgorithm::EdDSA),
        Algorithm::ES256 => Some(KeyAlgorithm::ES256),
        Algorithm::RS256 => Some(KeyAlgorithm::RS256),
        _ => None,
    }
}

/// Whether a JWK's raw JSON carries a private or symmetric member (`d`, `p`, `q`, `dp`, `dq`, `qi`,
/// `oth`, `k`).
fn has_private_members(raw: &serde_json::Value) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| raw.get(m).is_some())
}

/// The keys of a JWKS document that verify `algorithm` tokens, as a ring that signs nothing; `Err`
/// when the document is not a JWKS. Keys without a `kid`, of another algorithm or use, symmetric or
/// with private members are left out (see the module doc).
pub fn ring_of(document: &[u8], algorithm: Algorithm) -> Result<(KeyRing, usize), String> {
    let raw: serde_json::Value = serde_json::from_slice(document).map_err(|e| format!("not JSON: {e}"))?;
    let raw_keys = raw
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("not a JWKS: no `keys` array")?;
    let wanted = key_algorithm(algorithm).ok_or("an HMAC algorithm has no public keys")?;
    let mut verifying = Vec::new();
    for raw_key in raw_keys {
        if has_private_members(raw_key) {
            tracing::warn!("a JWKS entry with private members was left out");
            continue;
        }
        // One key that does not parse (an algorithm this build does not know) leaves the rest usable.
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw_key.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let right_use = matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature));
        if jwk.common.key_algorithm != Some(wanted) || !right_use {
            continue;
        }
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            verifying.push((kid, key));
        }
    }
    let count = verifying.len();
    Ok((KeyRing::new(algorithm, None, verifying), count))
}

/// A JWKS document of `keys`, as served.
pub fn document(keys: Vec<Jwk>) -> String {
    serde_json::to_string(&JwkSet { keys }).unwrap_or_else(|_| r#"{"keys":[]}"#.into())
}

/// See the module doc. Cheap to clone.
#[derive(Clone)]
pub struct JwksFollower(Arc<Follower>);

struct Follower {
    url: String,
    codec: Arc<TokenCodec>,
    client: reqwest::Client,
    /// Whether a set was ever installed.
    held: AtomicBool,
    /// When the last fetch started, and one fetch at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// How long the last set said it may be cached.
    max_age_secs: AtomicU64,
    fetches: AtomicU64,
}

impl std::fmt::Debug for JwksFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFollower")
            .field("url", &shown(&self.0.url))
            .finish_non_exhaustive()
    }
}

/// `JWT_JWKS_URL` as logs may show it: `JWT_JWKS_URL` is read as a secret (a URL may carry
/// credentials or a token), so only its scheme, host, port and path.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

impl JwksFollower {
    /// Follows the set at `url` for `codec`'s access tokens; nothing is fetched until
    /// [`JwksFollower::spawn`] or [`JwksFollower::fetch`].
    pub fn new(url: &str, codec: Arc<TokenCodec>) -> Self {
        Self(Arc::new(Follower {
            url: url.to_string(),
            codec,
            client: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
            held: AtomicBool::new(false),
            last_fetch: tokio::sync::Mutex::new(None),
            max_age_secs: AtomicU64::new(DEFAULT_MAX_AGE.as_secs()),
            fetches: AtomicU64::new(0),
        }))
    }

    /// Fetches the set now and installs it; how many keys it holds for the access tokens' algorithm.
    pub async fn fetch(&self) -> Result<usize, String> {
        let mut last = self.0.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<usize, String> {
        self.0.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .0
            .client
            .get(&self.0.url)
            .send()
            .await
            .map_err(|e| format!("the JWKS did not answer: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS answered {}", response.status()));
        }
        if let Some(max_age) = max_age(response.headers()) {
            self.0.max_age_secs.store(
                max_age.clamp(MIN_MAX_AGE, MAX_MAX_AGE).as_secs(),
                Ordering::Relaxed,
            );
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("the JWKS answer broke off: {}", e.without_url()))?;
        let (ring, count) = ring_of(&body, self.0.codec.access_algorithm())?;
        if count == 0 {
            return Err(format!(
                "the JWKS holds no {:?} key",
                self.0.codec.access_algorithm()
            ));
        }
        self.0.codec.set_access_keys(ring);
        self.0.held.store(true, Ordering::Release);
        Ok(count)
    }

    /// A token named a `kid` the set lacks: fetches the set again unless one was fetched less than
    /// [`REFETCH_AT_MOST_EVERY`] ago (a caller that waited here on another's fetch then finds its set
    /// installed). A failure leaves the set held in place.
    pub async fn refetch_for_unknown_kid(&self) {
        let mut last = self.0.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch_locked().await {
            tracing::warn!(error = %e, "JWKS: fetching again for an unknown kid failed; the set held goes on");
        }
    }

    /// Keeps the set current in the background: every second until one is held, then every time the
    /// last one's cache lifetime passes. Failures leave the set held in place.
    pub fn spawn(&self) {
        let follower = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = match follower.fetch().await {
                    Ok(keys) => {
                        tracing::debug!(keys, "JWKS fetched");
                        Duration::from_secs(follower.0.max_age_secs.load(Ordering::Relaxed))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, url = %shown(&follower.0.url), "JWKS fetch failed");
                        if follower.is_held() {
                            MIN_MAX_AGE
                        } else {
                            Duration::from_secs(1)
                        }
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Whether a set was ever installed.
    pub fn is_held(&self) -> bool {
        self.0.held.load(Ordering::Acquire)
    }

    /// For `/ready`: ready once a set is held.
    pub fn ready(&self) -> Result<(), StoreError> {
        if self.is_held() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "no JWKS fetched yet: no access token can be verified".into(),
            ))
        }
    }

    /// How many fetches were made; for tests and metrics.
    pub fn fetches(&self) -> u64 {
        self.0.fetches.load(Ordering::Relaxed)
    }
}

/// `Cache-Control: ... max-age=N ...`.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    value
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The most tokens the cache of verified tokens holds.
const CACHE_CAPACITY: usize = 16_384;

/// Tokens verified, by the whole token, until their `exp`.
#[derive(Default)]
struct VerifiedCache {
    entries: Mutex<HashMap<Box<str>, Arc<AccessClaims>>>,
}

impl VerifiedCache {
    fn get(&self, token: &str, now_secs: i64) -> Option<Arc<AccessClaims>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(token)
            .filter(|c| c.exp > now_secs - JWT_LEEWAY_SECS)
            .cloned()
    }

    fn insert(&self, token: &str, claims: Arc<AccessClaims>, now_secs: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, c| c.exp > now_secs - JWT_LEEWAY_SECS);
            if entries.len() >= CACHE_CAPACITY {
                // Still full of live tokens: start over rather than grow (they verify again).
                entries.clear();
            }
        }
        entries.insert(token.into(), claims);
    }
}

/// See the module doc. Cheap to clone.
#[derive(Clone)]
pub struct AccessVerifier {
    codec: Arc<TokenCodec>,
    jwks: Option<JwksFollower>,
    /// Only for asymmetric tokens: an HMAC check costs about what a cache lookup does.
    cache: Option<Arc<VerifiedCache>>,
}

impl std::fmt::Debug for AccessVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessVerifier")
            .field("jwks", &self.jwks)
            .field("cache", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl From<Arc<TokenCodec>> for AccessVerifier {
    fn from(codec: Arc<TokenCodec>) -> Self {
        Self::new(codec, None)
    }
}

impl AccessVerifier {
    /// Verifies with `codec`'s keys, refetching `jwks` (if any) on an unknown `kid`.
    pub fn new(codec: Arc<TokenCodec>, jwks: Option<JwksFollower>) -> Self {
        let cache = (!is_hmac(codec.access_algorithm())).then(|| Arc::new(VerifiedCache::default()));
        Self { codec, jwks, cache }
    }

    pub fn codec(&self) -> &Arc<TokenCodec> {
        &self.codec
    }

    /// The claims of a valid access token (see [`TokenCodec::verify`]), from the cache when it was
    /// verified before and has not expired.
    pub async fn verify(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        let now = self.codec.now_secs();
        if let Some(claims) = self.cache.as_ref().and_then(|c| c.get(token, now)) {
            return Ok(claims);
        }
        let claims = match self.codec.verify::<AccessClaims>(token) {
            Err(TokenError::Invalid(UNKNOWN_KID)) => match &self.jwks {
                Some(jwks) => {
                    // Whether this request fetched the set or waited while another one did (and so
                    // fetched nothing itself), the set may know the kid now: look again.
                    jwks.refetch_for_unknown_kid().await;
                    match self.codec.verify::<AccessClaims>(token) {
                        // Never held a set: not "this token is bad" but "nothing can be told yet".
                        Err(TokenError::Invalid(UNKNOWN_KID)) if !jwks.is_held() => Err(TokenError::NoKeys),
                        other => other,
                    }
                }
                None => Err(TokenError::Invalid(UNKNOWN_KID)),
            },
            other => other,
        }?;
        let claims = Arc::new(claims);
        if let Some(cache) = &self.cache {
            cache.insert(token, Arc::clone(&claims), now);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWKS endpoint on 127.0.0.1 that answers every request with `body` after `delay`.
    async fn slow_jwks(body: String, delay: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn requests_that_wait_on_another_ones_fetch_use_the_set_it_brought() {
        use crate::{Rol, SystemClock, TokenKind};
        // auth-service's codec signs with a key the backend has not seen yet.
        let mut settings = crate::token::test_settings("a secret the backend never holds, 0123456789");
        settings.algorithm = Algorithm::EdDSA;
        let key = EncodingKey::from_ed_der(include_bytes!("../benches/keys/ed25519.pk8.der"));
        let jwk = public_jwk(&key, Algorithm::EdDSA, "new-key").unwrap();
        let signer = TokenCodec::new(&settings, Arc::new(SystemClock));
        signer.set_access_keys(KeyRing::new(
            Algorithm::EdDSA,
            Some(("new-key".into(), key)),
            vec![("new-key".into(), DecodingKey::from_jwk(&jwk).unwrap())],
        ));
        let now = signer.now_secs();
        let token = signer
            .sign(&AccessClaims {
                sub: "1".into(),
                jti: "j".into(),
                sid: "s".into(),
                iat: now,
                nbf: now,
                exp: now + 600,
                iss: signer.issuer().into(),
                aud: signer.audience().into(),
                typ: TokenKind::Access,
                username: "api_user".into(),
                email: "api_user@example.com".into(),
                rol: Some(Rol::Admin),
                client_id: None,
                scope: None,
            })
            .unwrap();

        // The backend holds an empty set; the set with the new key comes 300 ms after it is asked.
        let url = slow_jwks(document(vec![jwk]), Duration::from_millis(300)).await;
        let codec = Arc::new(TokenCodec::new(&settings, Arc::new(SystemClock)));
        let follower = JwksFollower::new(&url, codec.clone());
        let verifier = AccessVerifier::new(codec, Some(follower));
        // Eight requests at once with the new kid: one fetches, the others wait for it; all pass.
        let all = futures::future::join_all((0..8).map(|_| verifier.verify(&token))).await;
        for (i, result) in all.iter().enumerate() {
            assert!(result.is_ok(), "request {i}: {result:?}");
        }
    }

    #[test]
    fn the_url_is_logged_without_credentials_query_or_fragment() {
        assert_eq!(
            shown("http://user:pw@auth:8000/.well-known/jwks.json?token=abc#x"),
            "http://auth:8000/.well-known/jwks.json"
        );
        assert_eq!(shown("not a url"), "(not a URL)");
    }

    #[test]
    fn a_set_with_private_members_symmetric_keys_or_other_algorithms_verifies_nothing() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "s", "alg": "HS256", "k": "c2VjcmV0"},
            {"kty": "OKP", "kid": "p", "alg": "EdDSA", "crv": "Ed25519",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
            {"kty": "OKP", "kid": "enc", "alg": "EdDSA", "crv": "Ed25519", "use": "enc",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "kid": "good", "alg": "EdDSA", "crv": "Ed25519", "use": "sig",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ]});
        let (ring, count) = ring_of(doc.to_string().as_bytes(), Algorithm::EdDSA).unwrap();
        assert_eq!((count, ring.kids()), (1, vec!["good"]));
        let (_, count) = ring_of(doc.to_string().as_bytes(), Algorithm::ES256).unwrap();
        assert_eq!(count, 0, "no key of another algorithm");
        assert!(ring_of(b"{}", Algorithm::EdDSA).is_err());
        assert!(ring_of(b"not json", Algorithm::EdDSA).is_err());
        assert!(ring_of(doc.to_string().as_bytes(), Algorithm::HS256).is_err());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("cache-control", "public, max-age=120".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::from_secs(120)));
        h.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }
}

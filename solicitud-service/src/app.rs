//! The application's state, built once from configuration. Serving it is [`crate::server`]'s job, so
//! this module sits below the routes that read it.

use std::sync::Arc;

use shared::config::ConfigError;
use shared::config::PublicKeys;
use shared::jwks::{ring_of, AccessVerifier, JwksFollower};
use shared::revocation::feed::RevocationFeed;
use shared::revocation::{SharedRevocationCheck, SignatureOnly};
use shared::{SharedClock, TokenCodec};

use crate::config::SolicitudConfig;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::SharedStore;

#[derive(Clone)]
pub struct App {
    pub config: Arc<SolicitudConfig>,
    pub codec: Arc<TokenCodec>,
    /// Verifies access tokens: with the codec's keys, the JWKS it follows (`JWT_JWKS_URL`), and a cache
    /// of tokens already verified (asymmetric algorithms).
    pub verifier: AccessVerifier,
    /// The public key set followed, when `JWT_JWKS_URL` is set; started by [`App::bind`].
    pub jwks: Option<JwksFollower>,
    pub store: SharedStore,
    pub clock: SharedClock,
    /// Asked about every verified access token: the revocation feed when this process follows one,
    /// [`SignatureOnly`] (a token stands until it expires) when it has no revocation source, or the
    /// one it was given ([`App::with_revocation_check`]).
    pub revocations: SharedRevocationCheck,
    /// The revocation feed this process follows, when it follows one (`REVOCATION_FEED_ENABLED` and a
    /// Redis: `REVOCATION_FEED_REDIS_URL` or `REDIS_URL`); started by [`App::bind`].
    pub feed: Option<RevocationFeed>,
    /// Whether `revocations` was handed in by [`App::with_revocation_check`] (said at start).
    pub in_process_revocations: bool,
}

impl App {
    /// The store is Redis when `REDIS_URL` is set, else the embedded one; with Redis (and
    /// `REVOCATION_FEED_ENABLED`) tokens are checked against the revocation feed.
    pub fn build(config: SolicitudConfig, clock: SharedClock) -> Result<Self, ConfigError> {
        let store: SharedStore = match &config.common.redis {
            Some(target) => Arc::new(
                RedisStore::to(target, &config.common.redis_key_prefix)
                    .map_err(|e| ConfigError::new("REDIS_URL", e.to_string()))?,
            ),
            None => Arc::new(MemoryStore::new()),
        };
        let feed = match config.verifier.feed_target(config.common.redis.as_ref()) {
            Some(target) => Some(
                RevocationFeed::to(
                    &target,
                    &config.common.redis_key_prefix,
                    config.verifier.feed,
                    clock.clone(),
                )
                .map_err(|e| ConfigError::new("REVOCATION_FEED_REDIS_URL", e.to_string()))?,
            ),
            None => None,
        };
        let codec = Arc::new(TokenCodec::new(&config.common.jwt, clock.clone()));
        let jwks = match &config.verifier.public_keys {
            Some(PublicKeys::Url(url)) => Some(JwksFollower::new(url, codec.clone())),
            Some(PublicKeys::File(path)) => {
                let bad =
                    |e: String| ConfigError::new("JWT_PUBLIC_KEYS_FILE", format!("{}: {e}", path.display()));
                let document = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
                let (ring, count) = ring_of(&document, codec.access_algorithm()).map_err(bad)?;
                if count == 0 {
                    return Err(bad(format!("holds no {:?} key", codec.access_algorithm())));
                }
                codec.set_access_keys(ring);
                None
            }
            None => None,
        };
        let verifier = AccessVerifier::new(codec.clone(), jwks.clone());
        let revocations: SharedRevocationCheck = match &feed {
            Some(feed) => Arc::new(feed.clone()),
            None => Arc::new(SignatureOnly),
        };
        Ok(Self {
            revocations,
            feed,
            in_process_revocations: false,
            codec,
            verifier,
            jwks,
            config: Arc::new(config),
            store,
            clock,
        })
    }

    /// The same state, asking `revocations` whether each verified token still stands (the
    /// `all-in-one` binary hands it the auth service's sessions, so a logout counts at once); no feed
    /// is followed then.
    /// The same state, verifying with `codec` (the `all-in-one` binary hands it the auth service's own,
    /// so asymmetric tokens verify with the keys that sign them, without fetching the set).
    pub fn with_codec(mut self, codec: Arc<TokenCodec>) -> Self {
        self.verifier = AccessVerifier::new(codec.clone(), None);
        self.codec = codec;
        self.jwks = None;
        self
    }

    pub fn with_revocation_check(mut self, revocations: SharedRevocationCheck) -> Self {
        self.revocations = revocations;
        self.feed = None;
        self.in_process_revocations = true;
        self
    }
}

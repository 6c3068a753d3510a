//! The application's state, built once from configuration. Serving it is [`crate::server`]'s job, so
//! this module sits below the routes that read it.

use std::sync::Arc;

use shared::config::ConfigError;
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
    pub store: SharedStore,
    pub clock: SharedClock,
    /// Asked about every verified access token: [`SignatureOnly`] (a token stands until it expires)
    /// unless the process has a revocation source ([`App::with_revocation_check`]).
    pub revocations: SharedRevocationCheck,
}

impl App {
    /// The store is Redis when `REDIS_URL` is set, else the embedded one.
    pub fn build(config: SolicitudConfig, clock: SharedClock) -> Result<Self, ConfigError> {
        let store: SharedStore = match &config.common.redis_url {
            Some(url) => Arc::new(
                RedisStore::new(url.expose(), &config.common.redis_key_prefix)
                    .map_err(|e| ConfigError::new("REDIS_URL", e.to_string()))?,
            ),
            None => Arc::new(MemoryStore::new()),
        };
        Ok(Self {
            codec: Arc::new(TokenCodec::new(&config.common.jwt, clock.clone())),
            config: Arc::new(config),
            store,
            clock,
            revocations: Arc::new(SignatureOnly),
        })
    }

    /// The same state, asking `revocations` whether each verified token still stands (the
    /// `all-in-one` binary hands it the auth service's sessions, so a logout counts at once).
    pub fn with_revocation_check(mut self, revocations: SharedRevocationCheck) -> Self {
        self.revocations = revocations;
        self
    }
}

//! The application: state built once, and a server bound to a listener the caller chose.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use shared::config::ConfigError;
use shared::{SharedClock, TokenCodec};
use tokio::net::TcpListener;

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
        })
    }

    /// Binds `addr`; returns the bound address and the server future.
    pub async fn bind(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tracing::info!(store = self.store.kind(), "solicitud-service ready to serve");
        Ok((
            local,
            shared::server::serve(
                shared::server::ServiceInfo {
                    name: "solicitud-service",
                    routes: crate::routes::ROUTES,
                },
                crate::routes::routes(self),
                listener,
                shutdown,
            ),
        ))
    }
}

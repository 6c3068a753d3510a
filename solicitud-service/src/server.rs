//! The server: [`App`] bound to a listener the caller chose (port 0 in tests). Above the routes, which
//! it joins, and the state, which it serves.

use std::future::Future;
use std::net::SocketAddr;

use crate::app::App;

impl App {
    /// Binds `addr`; returns the bound address and the server future.
    pub async fn bind(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
        let (listener, local) = shared::server::listen(addr).await?;
        if let Some(jwks) = &self.jwks {
            jwks.spawn();
            tracing::info!("verifying access tokens with the auth service's published keys (JWKS)");
        }
        let has_redis = self.config.common.redis.is_some();
        match (
            &self.feed,
            has_redis || self.config.verifier.feed_redis_url.is_some(),
        ) {
            _ if self.in_process_revocations => {
                tracing::info!("revocations are checked in this process's own store")
            }
            (Some(feed), _) => {
                feed.spawn();
                tracing::info!(
                    max_staleness_secs = self.config.verifier.feed.max_staleness.as_secs(),
                    when_stale = ?self.config.verifier.feed.when_stale,
                    "following the revocation feed: revoked tokens are refused"
                );
            }
            (None, true) => tracing::warn!(
                "REVOCATION_FEED_ENABLED=false: revocations are not propagated; a revoked access token \
                 is accepted here until it expires"
            ),
            (None, false) => tracing::warn!(
                "embedded store: revocations are not propagated; a revoked access token is accepted \
                 here until it expires (set REDIS_URL to follow the auth service's revocation feed)"
            ),
        }
        tracing::info!(store = self.store.kind(), "solicitud-service ready to serve");
        Ok((
            local,
            shared::server::serve(
                shared::server::ServiceInfo {
                    name: "solicitud-service",
                },
                crate::routes::router(&self),
                listener,
                shutdown,
            ),
        ))
    }
}

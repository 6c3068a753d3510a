//! [`System`]: the auth service's and the solicitud service's apps, built from one configuration (the
//! solicitud routes asking the auth service's sessions about revocation), bound to one listener.

use std::future::Future;
use std::net::SocketAddr;

use auth_service::app::StartError;
use shared::SharedClock;

use crate::config::AllInOneConfig;

/// Both services' state, ready to serve on one listener.
pub struct System {
    auth: auth_service::app::App,
    solicitud: solicitud_service::app::App,
}

impl System {
    /// Builds both apps on the configured store (Redis when `REDIS_URL` is set, else the embedded
    /// stores); the solicitud routes consult the auth service's sessions about every token.
    pub fn build(config: AllInOneConfig, clock: SharedClock) -> Result<Self, StartError> {
        let auth = auth_service::app::App::build(config.auth, clock.clone())?;
        let solicitud = solicitud_service::app::App::build(config.solicitud, clock)?
            .with_codec(auth.codec())
            .with_revocation_check(auth.revocation_check());
        Ok(Self { auth, solicitud })
    }

    /// Binds `addr` (port 0 in tests); the bound address and the server future, which ends after
    /// `shutdown` completes and in-flight requests finish.
    pub async fn bind(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, impl Future<Output = ()>), StartError> {
        let (listener, local) = shared::server::listen(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        self.auth.load_signing_keys().await?;
        // The auth half's configured users, applied before serving as auth-service does.
        let applied = self.auth.apply_configured_users();
        self.auth.spawn_feed_sweeper();
        tracing::info!(
            store = self.auth.store.kind(),
            solicitud_store = self.solicitud.store.kind(),
            "all-in-one ready to serve: /auth, /v2/auth and /solicitud on one listener"
        );
        let server = shared::server::serve(
            shared::server::ServiceInfo { name: "all-in-one" },
            crate::routes::router(&self.auth, &self.solicitud),
            listener,
            shutdown,
        );
        Ok((local, async move {
            applied.await;
            server.await;
        }))
    }
}

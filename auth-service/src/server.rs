//! The server: [`App`] bound to a listener the caller chose (port 0 in tests), so tests and `main` run
//! exactly the same thing. Above the routes, which it joins, and the state, which it serves.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::app::{App, StartError};

impl App {
    /// Binds `addr` and returns the bound address and the server future.
    pub async fn bind(
        self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, impl Future<Output = ()>), StartError> {
        let (listener, local) = shared::server::listen(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        self.load_signing_keys().await?;
        Ok((local, self.serve(listener, shutdown)))
    }

    /// Serves on a listener until `shutdown` completes; in-flight requests finish first. The
    /// configured users are applied to the store first ([`App::apply_configured_users`]).
    pub fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> {
        let applied = self.apply_configured_users();
        self.spawn_feed_sweeper();
        tracing::info!(
            store = self.store.kind(),
            configured_users = self.accounts.configured().len(),
            kid = self.codec.current_kid().as_deref().unwrap_or("-"),
            "auth-service ready to serve"
        );
        let serving = shared::server::serve(
            shared::server::ServiceInfo { name: "auth-service" },
            crate::routes::router(&self),
            listener,
            shutdown,
        );
        async move {
            applied.await;
            serving.await;
        }
    }

    /// Applies the configured users to the store ([`crate::accounts::Accounts::apply_configuration`]),
    /// to be awaited before serving: it waits for the store a few seconds at most; if the store has
    /// not answered by then, serving starts anyway (requests fail closed meanwhile) and the users are
    /// applied in the background, retried every second.
    /// The clients of `CLIENTS_FILE` are applied the same way.
    pub fn apply_configured_users(&self) -> impl Future<Output = ()> + Send + 'static {
        let app = self.clone();
        async move {
            let first = tokio::time::timeout(std::time::Duration::from_secs(3), apply_all(&app)).await;
            if !matches!(first, Ok(true)) {
                tokio::spawn(async move {
                    while !apply_all(&app).await {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                });
            }
        }
    }
}

/// The configured users, then the configured clients; `true` when both are done.
async fn apply_all(app: &App) -> bool {
    apply_once(&app.accounts).await && apply_clients(app).await
}

/// Applies the configured clients once; `true` when done.
async fn apply_clients(app: &App) -> bool {
    match app.registry.apply_configuration(&app.configured_clients).await {
        Ok(done) => {
            for client_id in done {
                tracing::info!(client_id = %client_id, "configured client applied");
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot apply the configured clients yet; retrying");
            false
        }
    }
}

/// Applies the configured users once; `true` when done (or refused for good: a conflict, logged).
async fn apply_once(accounts: &crate::accounts::Accounts) -> bool {
    match accounts.apply_configuration().await {
        Ok(done) => {
            for line in done {
                tracing::info!(change = %line, "configured user applied");
            }
            true
        }
        Err(crate::accounts::ApplyError::Store(e)) => {
            tracing::warn!(error = %e, "cannot apply the configured users yet; retrying");
            false
        }
        Err(conflict) => {
            tracing::error!(error = %conflict, "a configured user conflicts with the users in the store; fix the configuration");
            true
        }
    }
}

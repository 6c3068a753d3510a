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
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok((local, self.serve(listener, shutdown)))
    }

    /// Serves on a listener until `shutdown` completes; in-flight requests finish first.
    pub fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> {
        tokio::spawn(note_credentials(self.sessions.clone()));
        tracing::info!(
            store = self.store.kind(),
            users = self.users.len(),
            kid = self.codec.current_kid().unwrap_or("-"),
            "auth-service ready to serve"
        );
        shared::server::serve(
            shared::server::ServiceInfo {
                name: "auth-service",
                routes: crate::routes::ROUTES,
            },
            crate::routes::routes(self),
            listener,
            shutdown,
        )
    }
}

/// Records the users' credential states ([`crate::sessions::Sessions::note_credentials`]), trying again
/// every second while the store does not answer (requests fail closed meanwhile anyway).
async fn note_credentials(sessions: std::sync::Arc<crate::sessions::Sessions>) {
    loop {
        match sessions.note_credentials().await {
            Ok(cut) => {
                if !cut.is_empty() {
                    tracing::warn!(user_ids = ?cut, "credentials changed since the last start: every session of these users ended");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = ?e, "cannot record the users' credentials yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

//! The server: [`App`] bound to a listener the caller chose (port 0 in tests). Above the routes, which
//! it joins, and the state, which it serves.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::app::App;

impl App {
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

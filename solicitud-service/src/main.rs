//! `solicitud-service`: configuration, telemetry, then the server until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use shared::telemetry::{refuse_start, run_until_stopped, shutdown_signal, start};
use shared::SystemClock;
use solicitud_service::app::App;
use solicitud_service::config::SolicitudConfig;

const NAME: &str = "solicitud-service";

#[tokio::main]
async fn main() -> ExitCode {
    let config = match SolicitudConfig::from_env() {
        Ok(config) => config,
        Err(e) => return refuse_start(NAME, e),
    };
    start(&config.common);
    let addr = config.bind_addr;
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => return refuse_start(NAME, e),
    };
    let bound = app
        .bind(addr, shutdown_signal())
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"));
    run_until_stopped(NAME, bound).await
}

//! `solicitud-service`: configuration, telemetry, then the server until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use shared::SystemClock;
use solicitud_service::app::App;
use solicitud_service::config::SolicitudConfig;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match SolicitudConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("solicitud-service: {e}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init(config.common.log_format);
    for warning in &config.common.warnings {
        tracing::warn!("{warning}");
    }
    let addr = config.bind_addr;
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("solicitud-service: {e}");
            return ExitCode::from(2);
        }
    };
    match app.bind(addr, shared::telemetry::shutdown_signal()).await {
        Ok((bound, server)) => {
            tracing::info!(addr = %bound, "listening");
            server.await;
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("solicitud-service: cannot listen on {addr}: {e}");
            ExitCode::from(2)
        }
    }
}

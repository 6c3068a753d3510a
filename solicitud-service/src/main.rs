//! `solicitud-service`: the command line first (`--help`, `--version`; anything else is a usage
//! error), then configuration, telemetry and the server until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use shared::config::FromVars;
use shared::telemetry::{refuse_start, run_until_stopped, shutdown_signal, start};
use shared::SystemClock;
use solicitud_service::app::App;
use solicitud_service::config::SolicitudConfig;

const NAME: &str = "solicitud-service";

/// mimalloc rather than glibc's malloc: a request allocates and frees many small blocks, often on
/// another worker thread than the one that allocated them (BENCHMARKS.md has the measurements).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `solicitud-service`: no commands, no flags but `--help` and `--version`.
#[derive(Debug, Parser)]
#[command(
    name = "solicitud-service",
    version,
    about = "The transport-request API; verifies access tokens locally. Runs the server \
             (SOLICITUD_BIND_ADDR, default 0.0.0.0:8002).",
    after_help = shared::config::ENVIRONMENT_HELP
)]
struct Cli {}

fn main() -> ExitCode {
    // --help, --version and usage errors exit here (0, 0, 2), before anything starts.
    Cli::parse();
    serve()
}

#[tokio::main]
async fn serve() -> ExitCode {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed_and_takes_no_arguments() {
        Cli::command().debug_assert();
        assert!(Cli::try_parse_from(["solicitud-service"]).is_ok());
        for args in [
            &["solicitud-service", "serve"][..],
            &["solicitud-service", "--port", "1"],
        ] {
            assert_eq!(Cli::try_parse_from(args).err().map(|e| e.exit_code()), Some(2));
        }
    }
}

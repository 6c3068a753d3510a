//! `auth-service`: the command line first (see [`auth_service::cli`]), then configuration, telemetry
//! and the server until SIGTERM or Ctrl-C; or `auth-service hash-password`, or `auth-service users ...`.

use std::process::ExitCode;
use std::sync::Arc;

use auth_service::app::App;
use auth_service::cli::{Cli, Command};
use auth_service::config::AuthConfig;
use clap::Parser;
use shared::config::FromVars;
use shared::telemetry::{refuse_start, run_until_stopped, shutdown_signal, start};
use shared::SystemClock;

const NAME: &str = "auth-service";

/// mimalloc rather than glibc's malloc: a request allocates and frees many small blocks, often on
/// another worker thread than the one that allocated them (BENCHMARKS.md has the measurements).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // --help, --version and usage errors exit here (0, 0, 2), before anything starts.
    match Cli::parse().command {
        Some(Command::HashPassword) => auth_service::cli::hash_password(),
        Some(Command::Users(command)) => users(command),
        Some(Command::Keys(command)) => keys(command),
        Some(Command::Clients(command)) => clients(command),
        None => serve(),
    }
}

#[tokio::main]
async fn users(command: auth_service::cli::UsersCommand) -> ExitCode {
    // Only warnings and the audit trail, on standard error; results go to standard output.
    shared::telemetry::start_cli();
    auth_service::operator::run(command).await
}

#[tokio::main]
async fn keys(command: auth_service::cli::KeysCommand) -> ExitCode {
    shared::telemetry::start_cli();
    auth_service::operator::keys(command).await
}

#[tokio::main]
async fn clients(command: auth_service::cli::ClientsCommand) -> ExitCode {
    shared::telemetry::start_cli();
    auth_service::operator::clients(command).await
}

#[tokio::main]
async fn serve() -> ExitCode {
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => return refuse_start(NAME, e),
    };
    start(&config.common);
    let addr = config.bind_addr;
    let app = match App::build(config, Arc::new(SystemClock)) {
        Ok(app) => app,
        Err(e) => return refuse_start(NAME, e),
    };
    run_until_stopped(NAME, app.bind(addr, shutdown_signal()).await).await
}

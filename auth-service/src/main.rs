//! `auth-service`: configuration, telemetry, then the server until SIGTERM or Ctrl-C.
//! `auth-service hash-password` reads a password on standard input and prints its PHC hash.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use auth_service::app::App;
use auth_service::config::AuthConfig;
use shared::SystemClock;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("hash-password") {
        return hash_password();
    }
    let config = match AuthConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("auth-service: {e}");
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
            eprintln!("auth-service: {e}");
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
            eprintln!("auth-service: {e}");
            ExitCode::from(2)
        }
    }
}

fn hash_password() -> ExitCode {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        eprintln!("auth-service hash-password: standard input is not UTF-8 text");
        return ExitCode::from(2);
    }
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() || password.chars().count() > auth_service::passwords::MAX_PASSWORD_CHARS {
        eprintln!("auth-service hash-password: the password must be 1 to 128 characters");
        return ExitCode::from(2);
    }
    match auth_service::passwords::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("auth-service hash-password: {e}");
            ExitCode::from(1)
        }
    }
}

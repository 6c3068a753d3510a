//! `auth-service`: configuration, telemetry, then the server until SIGTERM or Ctrl-C.
//! `auth-service hash-password` reads a password on standard input and prints its PHC hash.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use auth_service::app::App;
use auth_service::config::AuthConfig;
use shared::telemetry::{refuse_start, run_until_stopped, shutdown_signal, start};
use shared::SystemClock;

const NAME: &str = "auth-service";

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("hash-password") {
        return hash_password();
    }
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

//! `all-in-one`: the whole system in one process (see the library's doc). The command line first
//! (`--help`, `--version`; anything else is a usage error), then configuration, telemetry and the
//! server until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use all_in_one::config::AllInOneConfig;
use all_in_one::System;
use clap::Parser;
use shared::config::FromVars;
use shared::telemetry::{refuse_start, run_until_stopped, shutdown_signal, start};
use shared::SystemClock;

const NAME: &str = "all-in-one";

/// `all-in-one`: no commands, no flags but `--help` and `--version`.
#[derive(Debug, Parser)]
#[command(
    name = "all-in-one",
    version,
    about = "The whole system in one process: /auth, /v2/auth and /solicitud on one listener \
             (ALL_IN_ONE_BIND_ADDR, default 0.0.0.0:8000), routed as the gateway routes them, on one \
             store (embedded, or Redis when REDIS_URL is set). Reads the auth service's variables. \
             Production runs the two services apart.",
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
    let config = match AllInOneConfig::from_env() {
        Ok(config) => config,
        Err(e) => return refuse_start(NAME, e),
    };
    start(&config.auth.common);
    let addr = config.bind_addr;
    let admin = config.auth.api_user.clone();
    let system = match System::build(config, Arc::new(SystemClock)) {
        Ok(system) => system,
        Err(e) => return refuse_start(NAME, e),
    };
    let bound = system.bind(addr, shutdown_signal()).await;
    if let Ok((bound_addr, _)) = &bound {
        for line in next_steps(bound_addr.port(), &admin) {
            tracing::info!("{line}");
        }
    }
    run_until_stopped(NAME, bound).await
}

/// What a newcomer does next, said once the listener is up: where the account page is, who to log
/// in as, and where the API and its documentation are.
fn next_steps(port: u16, admin: &str) -> [String; 3] {
    let origin = format!("http://localhost:{port}");
    [
        format!(
            "open {origin}/cuenta and log in as {admin} with API_PASSWORD from .env (the account page: TOTP, passkeys, password, sessions)"
        ),
        format!(
            "or call the API: curl -s {origin}/auth/login -H 'Content-Type: application/json' -d '{{\"username\":\"{admin}\",\"password\":\"...\"}}'; {origin}/admin/users with that admin's token"
        ),
        format!("every endpoint: {origin}/openapi.json and docs/integrating.md; the README has a curl walk"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_start_says_where_the_account_page_is_and_who_to_log_in_as() {
        let lines = next_steps(8123, "root_admin").join("\n");
        assert!(lines.contains("http://localhost:8123/cuenta"), "{lines}");
        assert!(lines.contains("log in as root_admin"), "{lines}");
        assert!(lines.contains("http://localhost:8123/admin/users"), "{lines}");
        assert!(
            !lines.contains("your-secure-password"),
            "a password in a log line: {lines}"
        );
    }

    #[test]
    fn the_command_line_is_well_formed_and_takes_no_arguments() {
        Cli::command().debug_assert();
        assert!(Cli::try_parse_from(["all-in-one"]).is_ok());
        assert_eq!(
            Cli::try_parse_from(["all-in-one", "serve"])
                .err()
                .map(|e| e.exit_code()),
            Some(2)
        );
    }
}

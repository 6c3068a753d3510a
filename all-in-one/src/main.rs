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
    let system = match System::build(config, Arc::new(SystemClock)) {
        Ok(system) => system,
        Err(e) => return refuse_start(NAME, e),
    };
    run_until_stopped(NAME, system.bind(addr, shutdown_signal()).await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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

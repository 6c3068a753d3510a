//! Logging: the tracing subscriber (pretty or JSON) and the shutdown signal. The one line per request
//! is written by [`crate::server`].

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` refines the level (default `info`).
///
/// JSON lines are written by the `json-subscriber` crate, in tracing-subscriber's own JSON format
/// (the event's fields flattened, `target`, the current `span` and the `spans` list), at a fraction of
/// its cost: it keeps each span's fields serialized once, where tracing-subscriber parses them back
/// for every line. With the default `info`, that line is written for every request, so its cost is
/// part of every request's (BENCHMARKS.md, "Fourth pass").
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (as in tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Json => json_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(true)
            .with_writer(crate::log_writer::LogWriter::stdout())
            .flatten_event(true)
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(true)
            .with_writer(crate::log_writer::LogWriter::stdout())
            .try_init(),
    };
}

/// The subscriber of a one-shot command (`auth-service users ...`): warnings, and the `audit` lines,
/// to standard error, so standard output holds only the command's result.
pub fn start_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,audit=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C (SIGINT); the server then stops accepting and lets in-flight
/// requests finish.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// The start of every service's `main`: logging as configured, then the configuration's warnings.
pub fn start(common: &crate::config::CommonConfig) {
    init(common.log_format);
    for warning in &common.warnings {
        tracing::warn!("{warning}");
    }
}

/// A start-up failure: on standard error, each line of the error prefixed with the service's name (one
/// line per bad variable for [`crate::config::ConfigErrors`]), never a panic trace; exit code 2.
pub fn refuse_start(service: &str, error: impl std::fmt::Display) -> std::process::ExitCode {
    for line in error.to_string().lines() {
        eprintln!("{service}: {line}");
    }
    std::process::ExitCode::from(2)
}

/// Runs a bound server until it stops (after SIGTERM or Ctrl-C and the drain), and says so.
pub async fn run_until_stopped<E: std::fmt::Display>(
    service: &str,
    bound: Result<(std::net::SocketAddr, impl std::future::Future<Output = ()>), E>,
) -> std::process::ExitCode {
    match bound {
        Ok((addr, server)) => {
            tracing::info!(addr = %addr, "listening");
            server.await;
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => refuse_start(service, e),
    }
}

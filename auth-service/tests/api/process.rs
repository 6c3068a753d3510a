//! Real processes for the replica and fault tests: the auth-service binary (test_support's
//! `ServiceProcess`), and a dedicated redis-server on a free port. Each is killed when dropped.

pub use test_support::ServiceProcess;
use test_support::{free_port, RedisProcess};

const BIN: &str = env!("CARGO_BIN_EXE_auth-service");

/// Starts the binary with JSON logs on a free port and waits for its "listening" line.
pub fn start_auth(vars: &[(&str, String)]) -> ServiceProcess {
    let mut vars = vars.to_vec();
    vars.push(("AUTH_BIND_ADDR", "127.0.0.1:0".to_string()));
    ServiceProcess::start(BIN, &vars).expect("auth-service did not start")
}

/// A redis-server of our own on a free port.
pub fn start_redis() -> RedisProcess {
    RedisProcess::start(free_port().expect("a free port")).expect("redis-server did not start")
}

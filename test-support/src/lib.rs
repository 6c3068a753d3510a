//! Test support: the real binaries of this workspace as child processes, for the tests that need a
//! process rather than an in-process server (replicas, signals, end to end, the gateway).
//!
//! - [`ServiceProcess`] starts a service binary with a clean environment, JSON logs and a working
//!   directory of its own (so no stray `.env` is read), waits for its `"listening"` log line to learn
//!   the address, keeps every log line for assertions, and kills the process when dropped.
//! - [`redis_url`] is the Redis every test shares: `TEST_REDIS_URL`, else the one answering on
//!   127.0.0.1:6379, else a `redis-server` this test process starts for itself on a free port (and
//!   that ends with the process); with none to be had, one message says what to install or set and
//!   the test process exits, rather than every test failing with a 503.
//! - [`RedisProcess`] runs a dedicated `redis-server` on a free port, so a test can stop and restart
//!   Redis without disturbing any other test.
//! - [`ClusterProcess`] runs a Redis Cluster of its own (three primaries, three replicas) whose nodes a
//!   test can kill and whose slots it can move, to watch a failover or a resharding from a client.
//! - [`seed_clients`] runs the seed's own Python and JavaScript clients against one origin.
//! - [`free_port`], [`sibling_binary`] (another binary of the workspace, built when missing),
//!   [`run_to_end`] (a command that must finish, such as `--help`) and [`hash_password`] (the
//!   service's own `hash-password` subcommand).
//!
//! One file per thing started: `service.rs`, `redis.rs` (the shared Redis and servers of a test's own),
//! `cluster.rs`, `seed_clients.rs`; `process.rs` holds what every child process needs and `tools.rs`
//! the inputs and tools from outside the workspace (`readme_walk`, `on_ci`, `skip`, venvs, node modules).
//!
//! Only ever a dev-dependency. Failures are returned as [`std::io::Error`]s with a message saying what
//! did not happen; the tests decide to panic on them.

pub mod seed_clients;

mod cluster;
mod process;
mod redis;
mod service;
mod tools;

pub use cluster::ClusterProcess;
pub use process::{free_port, run_to_end, sibling_binary};
pub use redis::{
    redis_answers, redis_probe_addr, redis_url, resolve_redis, RedisProcess, SentinelProcess,
    DEFAULT_REDIS_PROBE, NO_REDIS_HELP,
};
pub use service::{hash_password, ServiceProcess, START_TIMEOUT};
pub use tools::{node_modules, on_ci, outside_input, python_venv, readme_walk, run_script, skip};

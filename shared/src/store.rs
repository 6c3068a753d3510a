//! What both services' stores share: the error that makes a request fail closed (503), and the lazy,
//! self-healing Redis connection with a deadline on every call.
//!
//! The connection is the redis crate's `ConnectionManager`, created on first use and reconnecting by
//! itself, so a service starts while Redis is down (and reports not ready) and heals when Redis comes
//! back, without a restart. Two things make a Redis restart cost no request once Redis is back:
//!
//! - The connection speaks RESP3, so the manager hears of a closed connection the moment the server
//!   closes it (the driver reports the disconnection) and connects again in the background, rather than
//!   finding out from the next command's broken pipe. Lua replies are the same in RESP2 and RESP3 (no
//!   script calls `redis.setresp(3)`).
//! - A command whose connection could not be made (refused: the reconnection made while Redis was still
//!   down failed, and the manager hands its failure to the next caller) provably never reached a server,
//!   so it is tried once more on the fresh connection that failure starts. Nothing else is retried: a
//!   command that may have been written (a reset, a timeout, a broken pipe) may have run, and a refresh
//!   rotation must run at most once, so those fail closed (503) and the client decides.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, ProtocolVersion, RedisError, Value};
use tokio::sync::OnceCell;

use crate::error::ApiError;

/// No store call may hold a request longer than this.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// The store did not answer, or answered nonsense: callers fail closed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unreachable: {0}")]
    Unavailable(String),
    #[error("store answered unexpectedly: {0}")]
    Protocol(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        crate::metrics::metrics().store_errors.inc();
        ApiError::unavailable(e)
    }
}

/// A Redis connection made on first use; see the module doc.
pub struct RedisConn {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisConn").finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Parses the URL now (a bad one stops the start); connects on first use.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let bad = |e: RedisError| StoreError::Unavailable(format!("bad REDIS_URL: {e}"));
        let info = url.into_connection_info().map_err(bad)?;
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(bad)?;
        Ok(Self {
            client,
            manager: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(DEADLINE))
                    .set_response_timeout(Some(DEADLINE))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                tokio::time::timeout(
                    DEADLINE,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| StoreError::Unavailable("connect timed out".into()))?
                .map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs a Lua script invocation: one round trip, atomic.
    pub async fn invoke(&self, invocation: redis::ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let invocation = &invocation;
        self.call(|mut conn| async move { invocation.invoke_async::<Value>(&mut conn).await })
            .await
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.call(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// Runs `op` on the connection within [`DEADLINE`], once more if it provably never reached a server
    /// (see the module doc).
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let first = op(self.connection().await?).await;
            let result = match first {
                Err(e) if never_sent(&e) => op(self.connection().await?).await,
                other => other,
            };
            result.map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        tokio::time::timeout(DEADLINE, attempt)
            .await
            .map_err(|_| StoreError::Unavailable("command timed out".into()))?
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

/// Whether a failed call provably never reached a server: its connection could not be made.
fn never_sent(e: &RedisError) -> bool {
    e.is_connection_refusal()
}

/// Converts a reply, or says it was not what the script promised.
pub fn from_value<T: FromRedisValue>(value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))
}

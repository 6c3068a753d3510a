//! What both services' stores share: the error that makes a request fail closed (503), and the lazy,
//! self-healing Redis connection with a deadline on every call.
//!
//! The connection is the redis crate's `ConnectionManager`, created on first use and reconnecting by
//! itself, so a service starts while Redis is down (and reports not ready) and heals when Redis comes
//! back, without a restart.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Value};
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
        let client =
            redis::Client::open(url).map_err(|e| StoreError::Unavailable(format!("bad REDIS_URL: {e}")))?;
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
        let mut conn = self.connection().await?;
        tokio::time::timeout(DEADLINE, invocation.invoke_async::<Value>(&mut conn))
            .await
            .map_err(|_| StoreError::Unavailable("command timed out".into()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        tokio::time::timeout(DEADLINE, cmd.query_async::<T>(&mut conn))
            .await
            .map_err(|_| StoreError::Unavailable("command timed out".into()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

/// Converts a reply, or says it was not what the script promised.
pub fn from_value<T: FromRedisValue>(value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))
}

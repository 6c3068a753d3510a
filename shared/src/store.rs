//! What both services' stores share: the error that makes a request fail closed (503), and the lazy,
//! self-healing Redis connection with a deadline on every call.
//!
//! The connection is one multiplexed Redis connection, made on first use, so a service starts while
//! Redis is down (and reports not ready) and heals when Redis comes back, without a restart. How it
//! heals is what makes a Redis restart (`docker compose restart redis`) cost no request once Redis is
//! back:
//!
//! - The connection speaks RESP3, whose driver reports a closed connection the moment the server closes
//!   it (a disconnection push), also while the connection is idle. The connection is then marked dead,
//!   as it is when a command on it fails with a dropped connection.
//! - A call never uses a dead connection: it makes a fresh one first, and a call that finds none makes
//!   one (one caller connects, the others wait for it). So the first command after a restart goes out
//!   on a new connection instead of failing on the old one: a command that provably never reached a
//!   server is sent on a fresh connection, not failed. Connecting happens when a call needs it, not in
//!   the background: nothing keeps retrying against a Redis that is down, and no failed attempt made
//!   while it was down is handed to the first caller after it is back.
//! - Nothing that may have been written is retried: a command that fails after it was sent (a reset, a
//!   timeout, a broken pipe) may have run, and a refresh rotation must run at most once, so it fails
//!   closed (503) and the client decides. The one window left is a command sent in the instant between
//!   the server closing the connection and the driver noticing: it fails with 503.
//!
//! Lua replies are the same in RESP2 and RESP3 (no script calls `redis.setresp(3)`).
//!
//! Where the connection goes is a [`RedisTarget`]: one server (`REDIS_URL`), or the primary that a set of
//! Sentinels names (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`). With Sentinel, every new connection
//! asks the Sentinels for the current primary (the redis crate's own Sentinel client, which also checks
//! the node's `ROLE`), and a connection is also dropped when the server answers `READONLY` (a primary
//! demoted to a replica while we were connected). After a failover, the first call finds the old
//! connection dead and connects to the new primary: at worst 503 while no primary is elected, healed
//! without a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
    RedisError, Value,
};

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

/// Where Redis is (see the module doc). Its `Debug` never shows a URL, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `REDIS_URL`.
    Url(String),
    /// The primary named `master` by these Sentinels (`host`, `port`).
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
    },
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Url(_) => f.write_str("RedisTarget::Url(..)"),
            RedisTarget::Sentinel { sentinels, master } => f
                .debug_struct("RedisTarget::Sentinel")
                .field("sentinels", sentinels)
                .field("master", master)
                .finish(),
        }
    }
}

/// Makes connections to a [`RedisTarget`]; cheap to clone.
#[derive(Clone)]
pub struct Connector(Arc<ConnectorKind>);

enum ConnectorKind {
    Direct(redis::Client),
    /// Asked for the current primary at every connection.
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl Connector {
    /// Checks the target now (a bad URL stops the start); connects on [`Connector::connect`].
    pub fn new(target: &RedisTarget) -> Result<Self, StoreError> {
        let kind = match target {
            RedisTarget::Url(url) => {
                let bad = |e: RedisError| StoreError::Unavailable(format!("bad REDIS_URL: {e}"));
                let info = url.as_str().into_connection_info().map_err(bad)?;
                let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
                ConnectorKind::Direct(redis::Client::open(info.set_redis_settings(settings)).map_err(bad)?)
            }
            RedisTarget::Sentinel { sentinels, master } => {
                let addrs = sentinels
                    .iter()
                    .map(|(host, port)| redis::ConnectionAddr::Tcp(host.clone(), *port));
                let client = redis::sentinel::SentinelClientBuilder::new(
                    addrs,
                    master,
                    redis::sentinel::SentinelServerType::Master,
                )
                .and_then(|b| b.set_client_to_redis_protocol(ProtocolVersion::RESP3).build())
                .map_err(|e| StoreError::Unavailable(format!("bad REDIS_SENTINELS: {e}")))?;
                ConnectorKind::Sentinel(tokio::sync::Mutex::new(client))
            }
        };
        Ok(Self(Arc::new(kind)))
    }

    /// A new multiplexed connection: to the server, or to the primary the Sentinels name now.
    pub async fn connect(&self, config: &AsyncConnectionConfig) -> redis::RedisResult<MultiplexedConnection> {
        match self.0.as_ref() {
            ConnectorKind::Direct(client) => {
                client.get_multiplexed_async_connection_with_config(config).await
            }
            ConnectorKind::Sentinel(client) => {
                client.lock().await.get_async_connection_with_config(config).await
            }
        }
    }
}

/// A Redis connection made on first use; see the module doc.
pub struct RedisConn {
    connector: Connector,
    /// The connection in use, if any (dead ones are replaced on the next call).
    live: RwLock<Option<Arc<Live>>>,
    /// Held while connecting, so that callers who find no live connection make one, not one each.
    connecting: tokio::sync::Mutex<()>,
}

/// One connection and whether it is known to be gone.
struct Live {
    conn: MultiplexedConnection,
    dead: Arc<AtomicBool>,
}

impl Live {
    fn usable(self: &Arc<Self>) -> Option<Arc<Self>> {
        (!self.dead.load(Ordering::Acquire)).then(|| Arc::clone(self))
    }
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
        Self::to(&RedisTarget::Url(url.to_string()))
    }

    /// A connection to `target`, checked now, made on first use.
    pub fn to(target: &RedisTarget) -> Result<Self, StoreError> {
        Ok(Self {
            connector: Connector::new(target)?,
            live: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    fn current(&self) -> Option<Arc<Live>> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Live::usable)
    }

    /// The live connection, or a fresh one when there is none or it is dead.
    async fn connection(&self) -> Result<Arc<Live>, StoreError> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let dead = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&dead);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(DEADLINE))
            .set_response_timeout(Some(DEADLINE))
            .set_push_sender(move |info: PushInfo| {
                if info.kind == PushKind::Disconnection {
                    flag.store(true, Ordering::Release);
                }
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = self
            .connector
            .connect(&config)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let live = Arc::new(Live { conn, dead });
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&live));
        Ok(live)
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

    /// Runs `op` on a usable connection within [`DEADLINE`]; a dropped connection is marked dead, so
    /// the next call makes a fresh one (see the module doc).
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let live = self.connection().await?;
            let result = op(live.conn.clone()).await;
            if let Err(e) = &result {
                // READONLY: the server was a primary and is a replica now (a failover).
                if e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
                {
                    live.dead.store(true, Ordering::Release);
                }
            }
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

/// Converts a reply, or says it was not what the script promised.
pub fn from_value<T: FromRedisValue>(value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))
}

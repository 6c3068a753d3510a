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
//!
//! A Redis Cluster (`REDIS_CLUSTER_NODES`) is reached through the redis crate's own cluster client: it
//! learns the slot map from the seed nodes, follows `MOVED` and `ASK` redirections, waits and retries on
//! `TRYAGAIN` and `CLUSTERDOWN`, and refreshes the map after a failover, so a slot migration or a
//! failover costs at worst a 503 while no primary serves the slot. Every script names keys of one hash
//! slot (the services' key layouts put what one operation touches under one hash tag). The client may
//! resend a command whose connection dropped before the reply came; every script is written so that
//! running it twice does what running it once does, or refuses safely (see each store's docs).
//!
//! Writes that must outlive a failover (a rotation, a revocation, a new session, a failure counted
//! against a lock, a recovery code spent) go out with `WAIT 1` on Sentinel and Cluster deployments
//! ([`RedisConn::invoke_durable`], [`RedisConn::query_durable`]): in the same round trip, the reply is
//! held until a replica has the write, for at most [`REPLICA_WAIT`]. When no replica acknowledged it
//! in that time the call fails ([`StoreError::Unavailable`], so 503): the write may stand on the
//! primary alone, and a failover now would lose it, so it is never acknowledged to a client. Every such
//! write is safe to send again (a retried rotation answers the same successor within the grace, a
//! retried logout finds the session revoked), so the client's retry settles it. A deployment whose
//! primary has no replica to fail over to cannot acknowledge these writes: it answers 503 until one
//! is attached (the reason is logged), which is the point, as a failover would lose them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
    RedisError, RedisFuture, ToRedisArgs, Value,
};

/// No store call may hold a request longer than this.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// How long a durable write waits for a replica's acknowledgement before failing (503).
pub const REPLICA_WAIT: Duration = Duration::from_millis(500);

/// The store did not answer, or answered nonsense: callers fail closed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unreachable: {0}")]
    Unavailable(String),
    #[error("store answered unexpectedly: {0}")]
    Protocol(String),
}

pub use crate::settings::RedisTarget;

/// One connection of either kind; cheap to clone (both multiplex over their sockets).
#[derive(Clone)]
pub enum Conn {
    /// One server (directly, or the primary Sentinels named).
    Single(MultiplexedConnection),
    /// The cluster client: one connection per node, routed by slot.
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
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
    /// The seed nodes, checked; a cluster client is built per connection (its timeouts are per use).
    Cluster(Vec<redis::ConnectionInfo>),
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
            RedisTarget::Cluster { nodes } => {
                let infos = nodes
                    .iter()
                    .map(|node| node.as_str().into_connection_info())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::Unavailable(format!("bad REDIS_CLUSTER_NODES: {e}")))?;
                if infos.is_empty() {
                    return Err(StoreError::Unavailable(
                        "REDIS_CLUSTER_NODES names no node".into(),
                    ));
                }
                ConnectorKind::Cluster(infos)
            }
        };
        Ok(Self(Arc::new(kind)))
    }

    /// Whether this is a cluster (see [`RedisTarget::is_cluster`]).
    pub fn is_cluster(&self) -> bool {
        matches!(self.0.as_ref(), ConnectorKind::Cluster(_))
    }

    /// Whether writes are replicated to a failover candidate (Sentinel, Cluster), so durable writes
    /// wait for a replica's acknowledgement.
    pub fn has_failover(&self) -> bool {
        !matches!(self.0.as_ref(), ConnectorKind::Direct(_))
    }

    /// A new connection: to the server, to the primary the Sentinels name now, or to the cluster.
    /// `config` sets the single-server connection; a cluster connection takes its timeouts from it
    /// (`response_timeout`, with `connection_timeout` = [`DEADLINE`]).
    pub async fn connect(
        &self,
        config: &AsyncConnectionConfig,
        response_timeout: Duration,
    ) -> redis::RedisResult<Conn> {
        match self.0.as_ref() {
            ConnectorKind::Direct(client) => client
                .get_multiplexed_async_connection_with_config(config)
                .await
                .map(Conn::Single),
            ConnectorKind::Sentinel(client) => client
                .lock()
                .await
                .get_async_connection_with_config(config)
                .await
                .map(Conn::Single),
            ConnectorKind::Cluster(nodes) => {
                let client = redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(DEADLINE)
                    .response_timeout(response_timeout)
                    .build()?;
                client.get_async_connection().await.map(Conn::Cluster)
            }
        }
    }
}

/// A Lua script, loaded by its SHA1 (`EVALSHA`, and `SCRIPT LOAD` on the node that lacks it).
#[derive(Debug, Clone)]
pub struct Lua {
    code: &'static str,
    hash: String,
}

impl Lua {
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            hash: redis::Script::new(code).get_hash().to_string(),
        }
    }

    /// A call of this script, to be given its keys and arguments.
    pub fn prepare_invoke(&self) -> Call<'_> {
        Call {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// One call of a [`Lua`] script: its keys (all of one hash slot on a cluster) and arguments.
pub struct Call<'a> {
    script: &'a Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call<'_> {
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// Arguments in pairs (a hash's fields and values, say), in order.
    pub fn arg_pairs<K: ToRedisArgs, V: ToRedisArgs>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        for (k, v) in pairs {
            self.arg(k).arg(v);
        }
        self
    }

    fn evalsha(&self) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.script.hash).arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key.as_slice());
        }
        for arg in &self.args {
            cmd.arg(arg.as_slice());
        }
        cmd
    }

    /// `SCRIPT LOAD`, sent where the call goes (a cluster client routes it to every primary).
    fn load(&self) -> Cmd {
        let mut cmd = redis::cmd("SCRIPT");
        cmd.arg("LOAD").arg(self.script.code);
        cmd
    }
}

/// `cmd`, then `WAIT 1` for at most [`REPLICA_WAIT`], in one pipeline.
fn with_wait(cmd: Cmd) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.add_command(cmd)
        .cmd("WAIT")
        .arg(1)
        .arg(REPLICA_WAIT.as_millis() as u64);
    pipe
}

/// `WAIT`'s answer: how many replicas have the write. None: the write is not acknowledged.
fn acknowledged_by_a_replica(replicas: i64) -> Result<(), StoreError> {
    if replicas >= 1 {
        return Ok(());
    }
    tracing::warn!("a write no replica acknowledged in time was refused (503): a failover would lose it");
    Err(StoreError::Unavailable(
        "no replica acknowledged the write".into(),
    ))
}

fn is_noscript(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
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
    conn: Conn,
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

    /// Whether this is a cluster (see [`RedisTarget::is_cluster`]).
    pub fn is_cluster(&self) -> bool {
        self.connector.is_cluster()
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
            .connect(&config, DEADLINE)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let live = Arc::new(Live { conn, dead });
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&live));
        Ok(live)
    }

    /// Runs a Lua script call: one round trip, atomic.
    pub async fn invoke(&self, call: Call<'_>) -> Result<Value, StoreError> {
        let call = &call;
        self.call(|mut conn| async move {
            match call.evalsha().query_async::<Value>(&mut conn).await {
                Err(e) if is_noscript(&e) => {
                    call.load().query_async::<Value>(&mut conn).await?;
                    call.evalsha().query_async::<Value>(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    /// Like [`RedisConn::invoke`], for a write that must survive a failover: where there is a
    /// replica to fail over to (Sentinel, Cluster), the script and a `WAIT 1` go out together to the
    /// same server, and the reply comes when a replica has the write; when none has it within
    /// [`REPLICA_WAIT`], the call fails (see the module doc). Still one round trip; on one server it
    /// is [`RedisConn::invoke`].
    pub async fn invoke_durable(&self, call: Call<'_>) -> Result<Value, StoreError> {
        if !self.connector.has_failover() {
            return self.invoke(call).await;
        }
        let call = &call;
        let (reply, acknowledged) = self
            .call(|mut conn| async move {
                let pipe = with_wait(call.evalsha());
                match pipe.query_async::<(Value, i64)>(&mut conn).await {
                    Err(e) if is_noscript(&e) => {
                        call.load().query_async::<Value>(&mut conn).await?;
                        pipe.query_async::<(Value, i64)>(&mut conn).await
                    }
                    other => other,
                }
            })
            .await?;
        acknowledged_by_a_replica(acknowledged)?;
        Ok(reply)
    }

    /// One command that must survive a failover (see [`RedisConn::invoke_durable`]).
    pub async fn query_durable<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        if !self.connector.has_failover() {
            return self.query(cmd).await;
        }
        let (reply, acknowledged) = self
            .call(|mut conn| async move { with_wait(cmd.clone()).query_async::<(T, i64)>(&mut conn).await })
            .await?;
        acknowledged_by_a_replica(acknowledged)?;
        Ok(reply)
    }

    /// Runs one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        self.call(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// Runs `op` on a usable connection within [`DEADLINE`]; a dropped connection is marked dead, so
    /// the next call makes a fresh one (see the module doc). A cluster connection is never replaced:
    /// the cluster client reconnects to each node itself.
    async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let live = self.connection().await?;
            let result = op(live.conn.clone()).await;
            if let (Err(e), Conn::Single(_)) = (&result, &live.conn) {
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

/// Where a key of an older layout goes ([`rename_keys`]).
pub enum Rename {
    /// Not an old-layout key.
    Keep,
    /// Not needed any more.
    Drop,
    /// Renamed to this key.
    To(String),
    /// Renamed to the key made from the value of this hash field of the record (none: kept).
    ByField {
        field: &'static str,
        to: Box<dyn FnOnce(&str) -> String + Send>,
    },
}

/// Renames an old-layout key unless the new one exists (then the old one goes).
const RENAME_IF: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DEL', KEYS[1]) return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
"#;

/// Moves the keys under `base` of an older layout to their names now, once: unless `marker` is set, a
/// `SCAN` of `base*` asks `destination` about every key, renames (TTLs kept; a key whose new name
/// exists is dropped, as it was written after the switch), drops what is no longer needed, then sets
/// `marker`. Safe to run from several processes at once: a key already moved is skipped. One server
/// only (a cluster never held an older layout). Returns how many keys were renamed and dropped.
pub async fn rename_keys(
    conn: &RedisConn,
    base: &str,
    marker: &str,
    destination: impl Fn(&str) -> Rename,
) -> Result<(usize, usize), StoreError> {
    let done: Option<String> = conn.query(redis::cmd("GET").arg(marker)).await?;
    if done.is_some() {
        return Ok((0, 0));
    }
    let mut pattern = String::with_capacity(base.len() + 1);
    for c in base.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    let rename_if = Lua::new(RENAME_IF);
    let (mut cursor, mut renamed, mut dropped) = (0u64, 0usize, 0usize);
    loop {
        let (next, page): (u64, Vec<String>) = conn
            .query(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000),
            )
            .await?;
        for key in page {
            let to = match destination(&key) {
                Rename::Keep => continue,
                Rename::Drop => {
                    dropped += conn.query::<usize>(redis::cmd("DEL").arg(&key)).await?;
                    continue;
                }
                Rename::To(to) => to,
                Rename::ByField { field, to } => {
                    let value: Option<String> = conn.query(redis::cmd("HGET").arg(&key).arg(field)).await?;
                    match value {
                        Some(value) => to(&value),
                        None => continue,
                    }
                }
            };
            let mut call = rename_if.prepare_invoke();
            call.key(&key).key(&to);
            renamed += from_value::<usize>(conn.invoke(call).await?)?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    conn.query::<()>(redis::cmd("SET").arg(marker).arg("2")).await?;
    Ok((renamed, dropped))
}

/// Converts a reply, or says it was not what the script promised.
pub fn from_value<T: FromRedisValue>(value: Value) -> Result<T, StoreError> {
    redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))
}

//! The Redis store. Keys under the configured prefix `P`, all under one hash tag, so that on a Redis
//! Cluster they share a slot and a create (record and both indexes) stays one atomic script:
//! - `P` `{sol}:seq`: the last id handed out (INCR);
//! - `P` `{sol}:item:<id>`: the request as JSON;
//! - `P` `{sol}:all` and `P` `{sol}:by:<username>`: sorted sets of ids, for listing;
//! - `P` `{sol}:layout`: set once keys of the layout before the hash tag (`P sol:...`) are renamed,
//!   which the store does on first use on one Redis or Sentinel ([`shared::store::rename_keys`]).
//!
//! One slot holds every transport request: they are written by people at a modest rate, so one node
//! carries them with room to spare; the auth service's sessions, which are what grows, spread per user.

use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};

use shared::store::{from_value, Lua, RedisConn, Rename};

use super::{NewSolicitud, SolicitudStore, StoreError, Transition};
use crate::domain::{Estado, Solicitud};

/// Writes the record and both indexes at once.
const INSERT: &str = r#"
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
return 1
"#;

/// Compare-and-set of `estado`.
const TRANSITION: &str = r#"
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local s = cjson.decode(raw)
if s.estado ~= ARGV[1] then return {'conflict', raw} end
s.estado = ARGV[2]
s.actualizadaEn = ARGV[3]
local out = cjson.encode(s)
redis.call('SET', KEYS[1], out)
return {'done', out}
"#;

/// MGET in slices, so a long list never becomes one giant command.
const MGET_CHUNK: usize = 500;

pub struct RedisStore {
    conn: RedisConn,
    /// `P {sol}:`.
    prefix: String,
    /// `P sol:`: the layout before the hash tag.
    legacy_prefix: String,
    cluster: bool,
    insert: Lua,
    transition: Lua,
    layout_ready: AtomicBool,
    layout_lock: tokio::sync::Mutex<()>,
}

impl RedisStore {
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::to(&shared::store::RedisTarget::Url(url.to_string()), prefix)
    }

    /// A store on `target` (one server, or the primary Sentinels name); connects on first use.
    pub fn to(target: &shared::store::RedisTarget, prefix: &str) -> Result<Self, StoreError> {
        Ok(Self {
            conn: RedisConn::to(target)?,
            prefix: format!("{prefix}{{sol}}:"),
            legacy_prefix: format!("{prefix}sol:"),
            cluster: target.is_cluster(),
            insert: Lua::new(INSERT),
            transition: Lua::new(TRANSITION),
            layout_ready: AtomicBool::new(false),
            layout_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The connection, once keys of the layout before the hash tag are renamed (see the module doc).
    async fn conn(&self) -> Result<&RedisConn, StoreError> {
        if self.layout_ready.load(Ordering::Acquire) {
            return Ok(&self.conn);
        }
        let _one = self.layout_lock.lock().await;
        if !self.layout_ready.load(Ordering::Acquire) {
            if !self.cluster {
                let marker = format!("{}layout", self.prefix);
                let (renamed, _) =
                    shared::store::rename_keys(&self.conn, &self.legacy_prefix, &marker, |key| {
                        key.strip_prefix(self.legacy_prefix.as_str())
                            .map_or(Rename::Keep, |rest| Rename::To(format!("{}{rest}", self.prefix)))
                    })
                    .await?;
                if renamed > 0 {
                    tracing::info!(renamed, "store: keys of the layout before the hash tag renamed");
                }
            }
            self.layout_ready.store(true, Ordering::Release);
        }
        Ok(&self.conn)
    }

    fn item_key(&self, id: u64) -> String {
        format!("{}item:{id}", self.prefix)
    }

    fn index_key(&self, solicitante: Option<&str>) -> String {
        match solicitante {
            Some(who) => format!("{}by:{who}", self.prefix),
            None => format!("{}all", self.prefix),
        }
    }
}

fn decode(raw: &str) -> Result<Solicitud, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Protocol(format!("stored solicitud: {e}")))
}

#[async_trait]
impl SolicitudStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.conn().await?.ping().await
    }

    async fn create(&self, new: NewSolicitud) -> Result<Solicitud, StoreError> {
        let id: u64 = self
            .conn()
            .await?
            .query(redis::cmd("INCR").arg(format!("{}seq", self.prefix)))
            .await?;
        let solicitud = new.with_id(id);
        let json = serde_json::to_string(&solicitud).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut inv = self.insert.prepare_invoke();
        inv.key(self.item_key(id))
            .key(self.index_key(None))
            .key(self.index_key(Some(&solicitud.solicitante)))
            .arg(id)
            .arg(json);
        self.conn().await?.invoke(inv).await?;
        Ok(solicitud)
    }

    async fn get(&self, id: u64) -> Result<Option<Solicitud>, StoreError> {
        let raw: Option<String> = self
            .conn()
            .await?
            .query(redis::cmd("GET").arg(self.item_key(id)))
            .await?;
        raw.as_deref().map(decode).transpose()
    }

    async fn list(&self, solicitante: Option<&str>) -> Result<Vec<Solicitud>, StoreError> {
        let conn = self.conn().await?;
        let ids: Vec<u64> = conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.index_key(solicitante))
                    .arg(0)
                    .arg(-1),
            )
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MGET_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|id| self.item_key(*id)).collect();
            let raws: Vec<Option<String>> = conn.query(redis::cmd("MGET").arg(keys)).await?;
            for raw in raws.into_iter().flatten() {
                out.push(decode(&raw)?);
            }
        }
        Ok(out)
    }

    async fn transition(
        &self,
        id: u64,
        from: Estado,
        to: Estado,
        now: &str,
    ) -> Result<Transition, StoreError> {
        let mut inv = self.transition.prepare_invoke();
        inv.key(self.item_key(id))
            .arg(from.as_str())
            .arg(to.as_str())
            .arg(now);
        let parts: Vec<String> = from_value(self.conn().await?.invoke(inv).await?)?;
        match parts.as_slice() {
            [state] if state == "missing" => Ok(Transition::Missing),
            [state, raw] if state == "conflict" => Ok(Transition::Conflict(decode(raw)?)),
            [state, raw] if state == "done" => Ok(Transition::Done(decode(raw)?)),
            _ => Err(StoreError::Protocol(format!(
                "unexpected transition reply {parts:?}"
            ))),
        }
    }
}

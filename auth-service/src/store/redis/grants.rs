//! The OpenID Provider's records: a hash per grant (`v` the value, `n` its redemptions) and a set per
//! set of ids, each with its TTL. Writes are durable: a failover must not forget that a code was
//! redeemed, nor bring back a browser session that was ended.

use super::super::Redeemed;
use super::*;

#[async_trait]
impl GrantStore for RedisStore {
    async fn put_grant(&self, kind: GrantKind, id: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let mut inv = self.grant_put.prepare_invoke();
        inv.key(self.keys.grant(kind, id)).arg(value).arg(ttl_ms.max(1));
        self.invoke_durable(inv).await.map(|_| ())
    }

    async fn grant(&self, kind: GrantKind, id: &str) -> Result<Option<String>, StoreError> {
        self.query(redis::cmd("HGET").arg(self.keys.grant(kind, id)).arg("v"))
            .await
    }

    async fn redeem_grant(&self, kind: GrantKind, id: &str) -> Result<Redeemed, StoreError> {
        let mut inv = self.grant_redeem.prepare_invoke();
        inv.key(self.keys.grant(kind, id));
        let reply: Vec<Value> = from_value(self.invoke_durable(inv).await?)?;
        match reply.as_slice() {
            [] => Ok(Redeemed::Missing),
            [n, v] => {
                let n: i64 = from_value(n.clone())?;
                let v: String = from_value(v.clone())?;
                Ok(if n == 1 {
                    Redeemed::Fresh(v)
                } else {
                    Redeemed::Replayed(v)
                })
            }
            other => Err(StoreError::Protocol(format!(
                "unexpected redeem reply of {} values",
                other.len()
            ))),
        }
    }

    async fn drop_grant(&self, kind: GrantKind, id: &str) -> Result<(), StoreError> {
        // Two keys in two slots on a cluster: one command each.
        self.query_durable::<i64>(redis::cmd("DEL").arg(self.keys.grant(kind, id)))
            .await?;
        self.query_durable::<i64>(redis::cmd("DEL").arg(self.keys.grant_set(kind, id)))
            .await
            .map(|_| ())
    }

    async fn add_to_set(
        &self,
        kind: GrantKind,
        id: &str,
        member: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let mut inv = self.grant_add.prepare_invoke();
        inv.key(self.keys.grant_set(kind, id))
            .arg(member)
            .arg(ttl_ms.max(1));
        self.invoke_durable(inv).await.map(|_| ())
    }

    async fn set_members(&self, kind: GrantKind, id: &str) -> Result<Vec<String>, StoreError> {
        self.query(redis::cmd("SMEMBERS").arg(self.keys.grant_set(kind, id)))
            .await
    }
}

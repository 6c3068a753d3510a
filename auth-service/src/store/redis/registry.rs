//! Signing keys and OAuth 2.0 clients.

use super::*;

#[async_trait]
impl KeyStore for RedisStore {
    async fn store_now_ms(&self) -> Result<i64, StoreError> {
        // As now.lua reads it: Redis's TIME, plus the tests' offset.
        let (secs, micros): (i64, i64) = self.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000 + self.time_offset_ms())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let all: Map<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.signing_keys()))
            .await?;
        all.iter()
            .filter(|(field, _)| !field.starts_with('~'))
            .map(|(_, json)| {
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Protocol(format!("a signing key record does not parse: {e}")))
            })
            .collect()
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, after: Option<&str>) -> Result<bool, StoreError> {
        let record = serde_json::to_string(key).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut inv = self.keys_add.prepare_invoke();
        inv.key(self.keys.signing_keys())
            .arg(&key.alg)
            .arg(after.unwrap_or(""))
            .arg(&key.kid)
            .arg(record);
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn remove_signing_keys(&self, kids: &[String]) -> Result<(), StoreError> {
        if kids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(self.keys.signing_keys());
        for kid in kids {
            cmd.arg(kid);
        }
        self.query_durable::<i64>(&cmd).await.map(|_| ())
    }
}

pub(super) fn client_of(json: &str) -> Result<ClientRecord, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Protocol(format!("a client record does not parse: {e}")))
}

#[async_trait]
impl ClientStore for RedisStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        if client_id.starts_with('~') {
            return Ok(None);
        }
        let json: Option<String> = self
            .query(redis::cmd("HGET").arg(self.keys.oauth_clients()).arg(client_id))
            .await?;
        json.as_deref().map(client_of).transpose()
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let all: Map<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.oauth_clients()))
            .await?;
        let mut clients = all
            .iter()
            .filter(|(field, _)| !field.starts_with('~'))
            .map(|(_, json)| client_of(json))
            .collect::<Result<Vec<_>, _>>()?;
        clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(clients)
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<Option<ClientRecord>, StoreError> {
        if client.client_id.starts_with('~') {
            return Ok(None);
        }
        let mut stored = client.clone();
        stored.version = client.version + 1;
        let record = serde_json::to_string(&stored).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let mut inv = self.client_put.prepare_invoke();
        inv.key(self.keys.oauth_clients())
            .arg(&client.client_id)
            .arg(client.version)
            .arg(record);
        let version = from_value::<u64>(self.invoke_durable(inv).await?)?;
        Ok((version == stored.version).then_some(stored))
    }
}

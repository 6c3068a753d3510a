//! Signing keys and OAuth 2.0 clients.

use super::*;

#[async_trait]
impl KeyStore for MemoryStore {
    async fn store_now_ms(&self) -> Result<i64, StoreError> {
        Ok(self.clock.now_ms())
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(self.lock()?.signing_keys.values().cloned().collect())
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, after: Option<&str>) -> Result<bool, StoreError> {
        let mut inner = self.write()?;
        if inner.newest_keys.get(&key.alg).map(String::as_str) != after {
            return Ok(false);
        }
        inner.newest_keys.insert(key.alg.clone(), key.kid.clone());
        inner.signing_keys.insert(key.kid.clone(), key.clone());
        inner.commit()?;
        Ok(true)
    }

    async fn remove_signing_keys(&self, kids: &[String]) -> Result<(), StoreError> {
        let mut inner = self.write()?;
        for kid in kids {
            inner.signing_keys.remove(kid);
        }
        inner.commit()
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.lock()?.clients.get(client_id).cloned())
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(self.lock()?.clients.values().cloned().collect())
    }

    async fn put_client(&self, client: &ClientRecord) -> Result<Option<ClientRecord>, StoreError> {
        let mut inner = self.write()?;
        let stored = inner.clients.get(&client.client_id).map_or(0, |c| c.version);
        if stored != client.version {
            return Ok(None);
        }
        let mut written = client.clone();
        written.version = stored + 1;
        inner.clients.insert(written.client_id.clone(), written.clone());
        inner.commit()?;
        Ok(Some(written))
    }
}

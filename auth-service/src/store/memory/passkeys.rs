//! Users' passkeys, by credential id (one map: a credential id is registered once, to one user).

use super::*;

#[async_trait]
impl PasskeyStore for MemoryStore {
    async fn add_passkey(&self, record: &PasskeyRecord, max: usize) -> Result<PasskeyAdded, StoreError> {
        let mut inner = self.write()?;
        if inner.passkeys.contains_key(&record.id) {
            return Ok(PasskeyAdded::Taken);
        }
        if inner.passkeys.values().filter(|p| p.uid == record.uid).count() >= max {
            return Ok(PasskeyAdded::Full);
        }
        inner.passkeys.insert(record.id.clone(), record.clone());
        inner.commit()?;
        Ok(PasskeyAdded::Added)
    }

    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(self.lock()?.passkeys.get(id).cloned())
    }

    async fn passkeys(&self, uid: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        Ok(self
            .lock()?
            .passkeys
            .values()
            .filter(|p| p.uid == uid)
            .cloned()
            .collect())
    }

    async fn update_passkey(
        &self,
        before: &PasskeyRecord,
        after: &PasskeyRecord,
    ) -> Result<bool, StoreError> {
        if before.id != after.id || before.uid != after.uid {
            return Err(StoreError::Protocol(
                "a passkey update may not change its id or user".into(),
            ));
        }
        let mut inner = self.write()?;
        match inner.passkeys.get_mut(&before.id) {
            Some(stored) if stored == before => {
                *stored = after.clone();
                inner.commit()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_passkey(
        &self,
        uid: &str,
        id: &str,
        keep_last: bool,
    ) -> Result<PasskeyRemoved, StoreError> {
        let mut inner = self.write()?;
        if inner.passkeys.get(id).is_none_or(|p| p.uid != uid) {
            return Ok(PasskeyRemoved::Unknown);
        }
        if keep_last && inner.passkeys.values().filter(|p| p.uid == uid).count() <= 1 {
            return Ok(PasskeyRemoved::Last);
        }
        inner.passkeys.remove(id);
        inner.commit()?;
        Ok(PasskeyRemoved::Removed)
    }
}

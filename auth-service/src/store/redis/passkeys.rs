//! Users' passkeys: a hash per user (credential id -> record JSON) under the user's hash tag, and an
//! index from each credential id to its user in a slot of its own. The index is claimed first (`SET
//! NX`: a credential id is registered once, to one user) and given back if the user's hash refuses the
//! passkey, so the two agree whatever runs at once; on a cluster they are two calls, as everywhere
//! here that spans slots. Writes are durable: a failover must not bring back a removed passkey, nor a
//! counter an assertion already moved past.

use super::*;

fn record_json(record: &PasskeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Protocol(format!("passkey record: {e}")))
}

fn record_of(json: &str) -> Result<PasskeyRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Protocol(format!("passkey record: {e}")))
}

#[async_trait]
impl PasskeyStore for RedisStore {
    async fn add_passkey(&self, record: &PasskeyRecord, max: usize) -> Result<PasskeyAdded, StoreError> {
        let owner = self.keys.passkey_owner(&record.id);
        let claimed: Option<String> = self
            .query_durable(redis::cmd("SET").arg(&owner).arg(&record.uid).arg("NX"))
            .await?;
        if claimed.is_none() {
            return Ok(PasskeyAdded::Taken);
        }
        let mut inv = self.passkey_add.prepare_invoke();
        inv.key(self.keys.passkeys(&record.uid))
            .arg(&record.id)
            .arg(record_json(record)?)
            .arg(max);
        let added = match from_value::<i64>(self.invoke_durable(inv).await?)? {
            1 => return Ok(PasskeyAdded::Added),
            -1 => PasskeyAdded::Full,
            _ => PasskeyAdded::Taken,
        };
        let mut inv = self.passkey_release.prepare_invoke();
        inv.key(owner).arg(&record.uid);
        self.invoke_durable(inv).await?;
        Ok(added)
    }

    async fn passkey(&self, id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        let Some(uid) = self
            .query::<Option<String>>(redis::cmd("GET").arg(self.keys.passkey_owner(id)))
            .await?
        else {
            return Ok(None);
        };
        let json: Option<String> = self
            .query(redis::cmd("HGET").arg(self.keys.passkeys(&uid)).arg(id))
            .await?;
        json.as_deref().map(record_of).transpose()
    }

    async fn passkeys(&self, uid: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        let all: Vec<String> = self
            .query(redis::cmd("HVALS").arg(self.keys.passkeys(uid)))
            .await?;
        all.iter().map(|json| record_of(json)).collect()
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
        let mut inv = self.passkey_swap.prepare_invoke();
        inv.key(self.keys.passkeys(&before.uid))
            .arg(&before.id)
            .arg(record_json(before)?)
            .arg(record_json(after)?);
        Ok(from_value::<i64>(self.invoke_durable(inv).await?)? == 1)
    }

    async fn remove_passkey(
        &self,
        uid: &str,
        id: &str,
        keep_last: bool,
    ) -> Result<PasskeyRemoved, StoreError> {
        let mut inv = self.passkey_remove.prepare_invoke();
        inv.key(self.keys.passkeys(uid))
            .arg(id)
            .arg(if keep_last { "1" } else { "0" });
        match from_value::<i64>(self.invoke_durable(inv).await?)? {
            1 => {
                let mut inv = self.passkey_release.prepare_invoke();
                inv.key(self.keys.passkey_owner(id)).arg(uid);
                self.invoke_durable(inv).await?;
                Ok(PasskeyRemoved::Removed)
            }
            -1 => Ok(PasskeyRemoved::Last),
            _ => Ok(PasskeyRemoved::Unknown),
        }
    }
}

//! The OpenID Provider's records and sets of ids.

use super::super::Redeemed;
use super::*;

fn key(kind: GrantKind, id: &str) -> String {
    format!("{}:{id}", kind.as_str())
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn put_grant(&self, kind: GrantKind, id: &str, value: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        inner.grants.insert(
            key(kind, id),
            Grant {
                value: value.to_string(),
                redeemed: 0,
                expires_ms: now + ttl_ms.max(1),
            },
        );
        inner.wrote(now);
        inner.commit()
    }

    async fn grant(&self, kind: GrantKind, id: &str) -> Result<Option<String>, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        Ok(inner
            .grants
            .get(&key(kind, id))
            .filter(|g| g.expires_ms > now)
            .map(|g| g.value.clone()))
    }

    async fn redeem_grant(&self, kind: GrantKind, id: &str) -> Result<Redeemed, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let Some(grant) = inner
            .grants
            .get_mut(&key(kind, id))
            .filter(|g| g.expires_ms > now)
        else {
            return Ok(Redeemed::Missing);
        };
        grant.redeemed += 1;
        let outcome = if grant.redeemed == 1 {
            Redeemed::Fresh(grant.value.clone())
        } else {
            Redeemed::Replayed(grant.value.clone())
        };
        inner.commit()?;
        Ok(outcome)
    }

    async fn drop_grant(&self, kind: GrantKind, id: &str) -> Result<(), StoreError> {
        let mut inner = self.write()?;
        let k = key(kind, id);
        let had = inner.grants.remove(&k).is_some() | inner.grant_sets.remove(&k).is_some();
        if had {
            inner.commit()?;
        }
        Ok(())
    }

    async fn add_to_set(
        &self,
        kind: GrantKind,
        id: &str,
        member: &str,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let entry = inner
            .grant_sets
            .entry(key(kind, id))
            .or_insert_with(|| (HashSet::new(), 0));
        if entry.1 <= now {
            *entry = (HashSet::new(), 0);
        }
        entry.0.insert(member.to_string());
        entry.1 = entry.1.max(now + ttl_ms.max(1));
        inner.wrote(now);
        inner.commit()
    }

    async fn set_members(&self, kind: GrantKind, id: &str) -> Result<Vec<String>, StoreError> {
        let now = self.clock.now_ms();
        let inner = self.lock()?;
        Ok(inner
            .grant_sets
            .get(&key(kind, id))
            .filter(|(_, exp)| *exp > now)
            .map(|(members, _)| members.iter().cloned().collect())
            .unwrap_or_default())
    }
}

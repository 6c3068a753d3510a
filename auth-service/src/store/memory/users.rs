//! Users and their indexes.

use super::*;

#[async_trait]
impl UserStore for MemoryStore {
    async fn user(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock()?.users.get(&id).map(|u| u.record.clone()))
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .users_by_username
            .get(username_key)
            .and_then(|id| inner.users.get(id))
            .map(|u| u.record.clone()))
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .users_by_email
            .get(email_key)
            .and_then(|id| inner.users.get(id))
            .map(|u| u.record.clone()))
    }

    async fn users_after(&self, after: u64, limit: usize) -> Result<Vec<UserRecord>, StoreError> {
        let inner = self.lock()?;
        Ok(inner
            .users
            .range(after.saturating_add(1)..)
            .take(limit.max(1))
            .map(|(_, u)| u.record.clone())
            .collect())
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError> {
        let mut inner = self.write()?;
        if inner.users_by_username.contains_key(username_key) {
            return Ok(Err(Taken::Username));
        }
        if inner.users_by_email.contains_key(email_key) {
            return Ok(Err(Taken::Email));
        }
        let id = if user.id == 0 {
            let mut id = inner.user_seq + 1;
            while inner.users.contains_key(&id) {
                id += 1;
            }
            id
        } else if inner.users.contains_key(&user.id) {
            return Ok(Err(Taken::Id));
        } else {
            user.id
        };
        inner.user_seq = inner.user_seq.max(id);
        let record = UserRecord {
            id,
            version: 1,
            ..user.clone()
        };
        inner.users_by_username.insert(username_key.to_string(), id);
        inner.users_by_email.insert(email_key.to_string(), id);
        inner.users.insert(
            id,
            StoredUser {
                record: record.clone(),
                username_key: username_key.to_string(),
                email_key: email_key.to_string(),
            },
        );
        inner.commit()?;
        Ok(Ok(record))
    }

    async fn update_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let Some(stored) = inner.users.get(&user.id).cloned() else {
            return Ok(UserUpdate::Missing);
        };
        if stored.record.version != user.version {
            return Ok(UserUpdate::Stale);
        }
        let owner = |index: &HashMap<String, u64>, key: &str| index.get(key).is_some_and(|id| *id != user.id);
        if owner(&inner.users_by_username, username_key) {
            return Ok(UserUpdate::Taken(Taken::Username));
        }
        if owner(&inner.users_by_email, email_key) {
            return Ok(UserUpdate::Taken(Taken::Email));
        }
        let active_admin = |u: &UserRecord| u.rol == "admin" && u.active;
        let others = inner
            .users
            .values()
            .filter(|u| u.record.id != user.id && active_admin(&u.record))
            .count();
        if active_admin(&stored.record) && !active_admin(user) && others == 0 {
            return Ok(UserUpdate::LastAdmin);
        }
        inner.users_by_username.remove(&stored.username_key);
        inner.users_by_email.remove(&stored.email_key);
        inner.users_by_username.insert(username_key.to_string(), user.id);
        inner.users_by_email.insert(email_key.to_string(), user.id);
        let record = UserRecord {
            version: user.version + 1,
            ..user.clone()
        };
        inner.users.insert(
            user.id,
            StoredUser {
                record: record.clone(),
                username_key: username_key.to_string(),
                email_key: email_key.to_string(),
            },
        );
        let cutoff_ms = end_sessions.map(|ttl_ms| {
            let at = inner.cut_off(&user.id.to_string(), ttl_ms.max(1), now, self.feed_life_ms);
            inner.wrote(now);
            at
        });
        inner.commit()?;
        Ok(UserUpdate::Updated {
            user: Box::new(record),
            cutoff_ms,
        })
    }
}

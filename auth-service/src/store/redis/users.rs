//! Users: records, the username and e-mail indexes, and a cluster's claims on them (see the parent
//! module's doc).

use super::*;

/// A rotation's reply after its kind: the generation, then the user's record.
pub(super) fn generation(parts: &[String]) -> Result<(Generation, UserRecord), StoreError> {
    match parts {
        [_, started, issued, refresh, access, user @ ..] => Ok((
            Generation {
                started_ms: int(started)?,
                issued_ms: int(issued)?,
                refresh_jti: refresh.clone(),
                access_jti: access.clone(),
            },
            view_record(user)?,
        )),
        _ => Err(StoreError::Protocol("unexpected rotation reply".into())),
    }
}

/// The fields of a user's hash (see [`super::keys`]), without `id` and `ver`, which the scripts set.
pub(super) fn user_fields(
    user: &UserRecord,
    username_key: &str,
    email_key: &str,
) -> [(&'static str, String); 11] {
    [
        ("username", user.username.clone()),
        ("email", user.email.clone()),
        ("rol", user.rol.clone()),
        ("hash", user.password_hash.clone()),
        ("fp", user.fingerprint()),
        ("vo", user.virtual_operator.clone()),
        ("active", if user.active { "1" } else { "0" }.to_string()),
        ("config", user.config.clone()),
        ("reset", user.reset.clone()),
        ("nk", username_key.to_string()),
        ("ek", email_key.to_string()),
    ]
}

/// The fields of a user's record that the session scripts (`rotate.lua`, `session_view.lua`) answer,
/// values only, in this order: half the reply of an HGETALL (no field names, nor the index keys
/// and fingerprint no caller of theirs reads), on the two hottest paths.
pub(super) const VIEW_FIELDS: [&str; 10] = [
    "id", "ver", "username", "email", "rol", "hash", "vo", "active", "config", "reset",
];

/// A user's record from the values of [`VIEW_FIELDS`]; an empty value is an absent field.
pub(super) fn view_record(values: &[String]) -> Result<UserRecord, StoreError> {
    if values.len() != VIEW_FIELDS.len() {
        return Err(StoreError::Protocol("a user record has the wrong length".into()));
    }
    fields_record(
        VIEW_FIELDS
            .iter()
            .zip(values)
            .filter(|(_, value)| !value.is_empty())
            .map(|(field, value)| (*field, value)),
    )
}

/// A user's record from its HGETALL (field, value, ...). Never prints the values: they hold the
/// password hash.
pub(super) fn record(flat: &[String]) -> Result<UserRecord, StoreError> {
    if !flat.len().is_multiple_of(2) {
        return Err(StoreError::Protocol("a user record has an odd length".into()));
    }
    fields_record(flat.chunks(2).filter_map(|pair| match pair {
        [field, value] => Some((field.as_str(), value)),
        _ => None,
    }))
}

/// A user's record from (field, value) pairs; fields it does not know are skipped.
pub(super) fn fields_record<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a String)>,
) -> Result<UserRecord, StoreError> {
    let mut user = UserRecord {
        id: 0,
        username: String::new(),
        email: String::new(),
        rol: String::new(),
        password_hash: String::new(),
        virtual_operator: String::new(),
        active: false,
        version: 0,
        config: String::new(),
        reset: String::new(),
    };
    let number = |field: &str, v: &str| {
        v.parse::<u64>()
            .map_err(|_| StoreError::Protocol(format!("user field `{field}` is not a number")))
    };
    for (field, value) in pairs {
        match field {
            "id" => user.id = number("id", value)?,
            "ver" => user.version = number("ver", value)?,
            "username" => user.username = value.clone(),
            "email" => user.email = value.clone(),
            "rol" => user.rol = value.clone(),
            "hash" => user.password_hash = value.clone(),
            "vo" => user.virtual_operator = value.clone(),
            "active" => user.active = value == "1",
            "config" => user.config = value.clone(),
            "reset" => user.reset = value.clone(),
            _ => {}
        }
    }
    if user.id == 0 || user.version == 0 {
        return Err(StoreError::Protocol(
            "a user record lacks its id or version".into(),
        ));
    }
    Ok(user)
}

pub(super) fn taken(which: &str) -> Result<Taken, StoreError> {
    match which {
        "id" => Ok(Taken::Id),
        "username" => Ok(Taken::Username),
        "email" => Ok(Taken::Email),
        other => Err(StoreError::Protocol(format!("unexpected taken field {other}"))),
    }
}

/// Which index a lookup goes through, and so which field of the record must still claim the key.
#[derive(Clone, Copy)]
pub(super) enum Index {
    Username,
    Email,
}

impl Index {
    pub(super) fn field(self) -> &'static str {
        match self {
            Index::Username => "nk",
            Index::Email => "ek",
        }
    }
}

/// The value of `field` in a flat HGETALL.
pub(super) fn field<'a>(flat: &'a [String], name: &str) -> Option<&'a str> {
    flat.chunks(2)
        .find(|pair| pair.first().is_some_and(|f| f == name))
        .and_then(|pair| pair.get(1))
        .map(String::as_str)
}

#[async_trait]
impl UserStore for RedisStore {
    async fn user(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        let flat = self.user_flat(&id.to_string()).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        record(&flat).map(Some)
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(Index::Username, username_key).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.find(Index::Email, email_key).await
    }

    async fn users_after(&self, after: u64, limit: usize) -> Result<Vec<UserRecord>, StoreError> {
        let pages: Vec<Vec<String>> = if self.cluster {
            let ids: Vec<String> = self
                .query(
                    redis::cmd("ZRANGE")
                        .arg(self.keys.user_ids())
                        .arg(format!("({after}"))
                        .arg("+inf")
                        .arg("BYSCORE")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(limit.max(1)),
                )
                .await?;
            futures::future::try_join_all(ids.iter().map(|id| self.user_flat(id))).await?
        } else {
            let (before, after_id) = self.keys.user_affixes();
            let mut inv = self.users_after.prepare_invoke();
            inv.key(self.keys.user_ids())
                .arg(after)
                .arg(limit.max(1))
                .arg(before)
                .arg(after_id);
            from_value(self.invoke(inv).await?)?
        };
        pages
            .iter()
            .filter(|flat| !flat.is_empty())
            .map(|flat| record(flat))
            .collect()
    }

    async fn create_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError> {
        if self.cluster {
            return self.create_user_split(user, username_key, email_key).await;
        }
        let (before, after) = self.keys.user_affixes();
        let mut inv = self.user_create.prepare_invoke();
        inv.key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.user_ids())
            .key(self.keys.user_seq())
            .key(self.keys.admins())
            .arg(before)
            .arg(username_key)
            .arg(email_key)
            .arg(user.id)
            .arg(after);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind, id] if kind == "created" => Ok(Ok(UserRecord {
                id: int(id)? as u64,
                version: 1,
                ..user.clone()
            })),
            [kind, which] if kind == "taken" => Ok(Err(taken(which)?)),
            _ => Err(StoreError::Protocol("unexpected user_create reply".into())),
        }
    }

    async fn update_user(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError> {
        if self.cluster {
            return self
                .update_user_split(user, username_key, email_key, end_sessions)
                .await;
        }
        let uid = user.id.to_string();
        let mut inv = self.user_update.prepare_invoke();
        inv.key(self.keys.user(&uid))
            .key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .key(self.keys.cutoff(&uid))
            .key(self.keys.revocation_feed())
            .key(self.keys.issued(&uid))
            .key(self.keys.admins())
            .arg(self.time_offset_ms())
            .arg(&uid)
            .arg(user.version)
            .arg(username_key)
            .arg(email_key)
            .arg(end_sessions.map_or(0, |ms| ms.max(1)))
            .arg(self.feed_life_ms);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
        match parts.as_slice() {
            [kind, which] if kind == "taken" => Ok(UserUpdate::Taken(taken(which)?)),
            [kind] if kind == "last_admin" => Ok(UserUpdate::LastAdmin),
            _ => updated(user, &parts),
        }
    }
}

/// An update's reply: `updated` (version, cut-off), `stale` or `missing`.
pub(super) fn updated(user: &UserRecord, parts: &[String]) -> Result<UserUpdate, StoreError> {
    match parts {
        [kind, version, cutoff] if kind == "updated" => Ok(UserUpdate::Updated {
            user: Box::new(UserRecord {
                version: int(version)? as u64,
                ..user.clone()
            }),
            cutoff_ms: (!cutoff.is_empty()).then(|| int(cutoff)).transpose()?,
        }),
        [kind] if kind == "stale" => Ok(UserUpdate::Stale),
        [kind] if kind == "missing" => Ok(UserUpdate::Missing),
        _ => Err(StoreError::Protocol("unexpected user update reply".into())),
    }
}

/// How often a cluster's user write retries a claim whose entry turned out stale.
pub(super) const CLAIM_TRIES: usize = 3;

impl RedisStore {
    /// A user's record as a flat HGETALL; empty when there is none.
    pub(super) async fn user_flat(&self, uid: &str) -> Result<Vec<String>, StoreError> {
        let mut inv = self.user_get.prepare_invoke();
        inv.key(self.keys.user(uid));
        from_value(self.invoke(inv).await?)
    }

    pub(super) async fn find(&self, index: Index, key: &str) -> Result<Option<UserRecord>, StoreError> {
        let index_key = match index {
            Index::Username => self.keys.users_by_username(),
            Index::Email => self.keys.users_by_email(),
        };
        let flat: Vec<String> = if self.cluster {
            let id: Option<String> = self.query(redis::cmd("HGET").arg(&index_key).arg(key)).await?;
            let Some(id) = id else { return Ok(None) };
            let flat = self.user_flat(&id).await?;
            // The record is the truth: an entry its record no longer claims is stale.
            if field(&flat, index.field()) != Some(key) {
                return Ok(None);
            }
            flat
        } else {
            let (before, after) = self.keys.user_affixes();
            let mut inv = self.user_find.prepare_invoke();
            inv.key(index_key).arg(key).arg(before).arg(after);
            from_value(self.invoke(inv).await?)?
        };
        if flat.is_empty() {
            return Ok(None);
        }
        record(&flat).map(Some)
    }

    /// Cluster: points `username_key` and `email_key` at `uid`, taking over entries whose user no
    /// longer claims them. `Ok(Some(taken))` when one is someone else's for real.
    pub(super) async fn claim(
        &self,
        uid: &str,
        username_key: &str,
        email_key: &str,
    ) -> Result<Option<Taken>, StoreError> {
        let (mut stale_name, mut stale_email) = (String::new(), String::new());
        for _ in 0..CLAIM_TRIES {
            let mut inv = self.users_claim.prepare_invoke();
            inv.key(self.keys.users_by_username())
                .key(self.keys.users_by_email())
                .key(self.keys.user_ids())
                .key(self.keys.user_seq())
                .arg(uid)
                .arg(username_key)
                .arg(email_key)
                .arg(&stale_name)
                .arg(&stale_email);
            let parts: Vec<String> = from_value(self.invoke_durable(inv).await?)?;
            let (which, owner) = match parts.as_slice() {
                [kind] if kind == "claimed" => return Ok(None),
                [kind, which, owner] if kind == "taken" => (which.as_str(), owner.clone()),
                _ => return Err(StoreError::Protocol("unexpected users_claim reply".into())),
            };
            let (index, key) = match which {
                "username" => (Index::Username, username_key),
                _ => (Index::Email, email_key),
            };
            let owner_record = self.user_flat(&owner).await?;
            if field(&owner_record, index.field()) == Some(key) {
                return Ok(Some(taken(which)?));
            }
            match index {
                Index::Username => stale_name = owner,
                Index::Email => stale_email = owner,
            }
        }
        Err(StoreError::Unavailable(
            "the user indexes kept changing under a claim".into(),
        ))
    }

    /// Cluster: drops index entries that still point at `uid` (best effort: a stale entry left behind
    /// is harmless, see the module doc).
    pub(super) async fn release(&self, uid: &str, username_key: &str, email_key: &str) {
        let mut inv = self.users_release.prepare_invoke();
        inv.key(self.keys.users_by_username())
            .key(self.keys.users_by_email())
            .arg(uid)
            .arg(username_key)
            .arg(email_key);
        if let Err(e) = self.invoke_durable(inv).await {
            tracing::warn!(error = %e, "store: a stale user index entry was left behind (harmless)");
        }
    }

    /// Cluster: the record first (invisible until indexed), then the index entries.
    pub(super) async fn create_user_split(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
    ) -> Result<Result<UserRecord, Taken>, StoreError> {
        let mut tries = 0;
        let id = loop {
            let id = if user.id == 0 {
                self.query::<u64>(redis::cmd("INCR").arg(self.keys.user_seq()))
                    .await?
            } else {
                user.id
            };
            let uid = id.to_string();
            let mut inv = self.user_put_new.prepare_invoke();
            inv.key(self.keys.user(&uid)).arg(&uid);
            inv.arg_pairs(user_fields(user, username_key, email_key));
            if from_value::<i64>(self.invoke_durable(inv).await?)? == 1 {
                break id;
            }
            tries += 1;
            if user.id != 0 {
                return Ok(Err(Taken::Id));
            }
            if tries >= CLAIM_TRIES {
                return Err(StoreError::Unavailable("no free user id found".into()));
            }
        };
        let uid = id.to_string();
        match self.claim(&uid, username_key, email_key).await {
            Ok(None) => {
                if user.rol == "admin" && user.active {
                    self.admins_call(&uid, "put").await?;
                }
                Ok(Ok(UserRecord {
                    id,
                    version: 1,
                    ..user.clone()
                }))
            }
            refused => {
                // Not created after all: the record goes again (nothing points at it).
                self.query::<i64>(redis::cmd("DEL").arg(self.keys.user(&uid)))
                    .await?;
                refused.map(|taken| Err(taken.unwrap_or(Taken::Username)))
            }
        }
    }

    /// Cluster: claim the new index entries, write the record over its version (and cut-off), drop
    /// the old entries, append the feed entry.
    pub(super) async fn update_user_split(
        &self,
        user: &UserRecord,
        username_key: &str,
        email_key: &str,
        end_sessions: Option<i64>,
    ) -> Result<UserUpdate, StoreError> {
        let uid = user.id.to_string();
        let stored = self.user_flat(&uid).await?;
        if stored.is_empty() {
            return Ok(UserUpdate::Missing);
        }
        if field(&stored, "ver") != Some(user.version.to_string().as_str()) {
            return Ok(UserUpdate::Stale);
        }
        let old_name = field(&stored, "nk").unwrap_or_default().to_string();
        let old_email = field(&stored, "ek").unwrap_or_default().to_string();
        let renamed = old_name != username_key || old_email != email_key;
        // The set of active admins first (it may refuse), put back should the write not happen.
        let was_admin = field(&stored, "rol") == Some("admin") && field(&stored, "active") == Some("1");
        let will_admin = user.rol == "admin" && user.active;
        let demotes = was_admin && !will_admin;
        if demotes && !self.admins_call(&uid, "take").await? {
            return Ok(UserUpdate::LastAdmin);
        }
        if renamed {
            match self.claim(&uid, username_key, email_key).await {
                Ok(None) => {}
                refused => {
                    if demotes {
                        self.admins_call(&uid, "put").await?;
                    }
                    return refused.map(|taken| UserUpdate::Taken(taken.unwrap_or(Taken::Username)));
                }
            }
        }
        if end_sessions.is_some() {
            self.index_owed(&uid).await?;
        }
        let mut inv = self.user_set.prepare_invoke();
        inv.key(self.keys.user(&uid))
            .key(self.keys.cutoff(&uid))
            .key(self.keys.issued(&uid))
            .key(self.keys.owed(&uid))
            .arg(self.time_offset_ms())
            .arg(&uid)
            .arg(user.version)
            .arg(end_sessions.map_or(0, |ms| ms.max(1)))
            .arg(self.feed_life_ms);
        inv.arg_pairs(user_fields(user, username_key, email_key));
        let written = from_value::<Vec<String>>(self.invoke_durable(inv).await?)
            .and_then(|parts| updated(user, &parts));
        let written_for_sure = matches!(written, Ok(UserUpdate::Updated { .. }));
        let not_written = matches!(written, Ok(UserUpdate::Stale | UserUpdate::Missing));
        let promoted = will_admin && !was_admin && written_for_sure;
        if (demotes && not_written) || promoted {
            self.admins_call(&uid, "put").await?;
        }
        // A write whose answer was lost may have happened: the admin stays out of the set, which can
        // only refuse a later demotion that was allowed, never allow one that was not.
        let outcome = written?;
        if renamed {
            let (gone_name, gone_email) = match outcome {
                // The old entries, where they changed.
                UserUpdate::Updated { .. } => (
                    if old_name != username_key {
                        old_name.as_str()
                    } else {
                        ""
                    },
                    if old_email != email_key {
                        old_email.as_str()
                    } else {
                        ""
                    },
                ),
                // The claim made for an update that did not happen.
                _ => (
                    if old_name != username_key {
                        username_key
                    } else {
                        ""
                    },
                    if old_email != email_key { email_key } else { "" },
                ),
            };
            self.release(&uid, gone_name, gone_email).await;
        }
        if let UserUpdate::Updated {
            cutoff_ms: Some(_), ..
        } = &outcome
        {
            self.drain_owed(&uid).await?;
        }
        Ok(outcome)
    }
}

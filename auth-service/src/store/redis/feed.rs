//! The revocation feed: the entries a cluster owes and their sweeper (see the parent module's doc).

use super::*;

impl RedisStore {
    /// Cluster only: appends feed entries `(kind, value, until ms, cut-off or "")` in a call of
    /// their own (see the module doc).
    pub(super) async fn append_feed(&self, entries: &[(&str, &str, &str, &str)]) -> Result<(), StoreError> {
        if injected(&self.failing_appends) {
            return Err(StoreError::Unavailable("injected feed append failure".into()));
        }
        let mut call = self.feed_add.prepare_invoke();
        call.key(self.keys.revocation_feed())
            .arg(0)
            .arg(self.feed_life_ms);
        for (kind, value, until, cutoff) in entries {
            call.arg(*kind).arg(*value).arg(*until).arg(*cutoff);
        }
        self.invoke_durable(call).await.map(|_| ())
    }

    /// Cluster only: adds the user to the index of users who may owe feed entries (before a
    /// revocation that owes one, so the sweeper finds it whatever happens next).
    pub(super) async fn index_owed(&self, uid: &str) -> Result<(), StoreError> {
        let mut call = self.owed_index.prepare_invoke();
        call.key(self.keys.owed_index())
            .arg("add")
            .arg(uid)
            .arg(self.time_offset_ms());
        self.invoke_durable(call).await.map(|_| ())
    }

    /// Cluster only: appends every entry the user owes to the feed, then forgets those entries.
    /// Returns how many are still owed (a revocation recorded meanwhile).
    pub(super) async fn drain_owed(&self, uid: &str) -> Result<u64, StoreError> {
        let owed: Map<String, String> = self.query(redis::cmd("HGETALL").arg(self.keys.owed(uid))).await?;
        if owed.is_empty() {
            return Ok(0);
        }
        let mut entries: Vec<(&str, &str, &str, &str)> = owed
            .iter()
            .filter_map(|(field, value)| {
                let (kind, what) = field.split_once(':')?;
                let (until, cutoff) = value.split_once('|')?;
                Some((kind, what, until, cutoff))
            })
            .collect();
        // In the order one Redis appends them: a session (or user) before the token of it.
        entries.sort_by_key(|(kind, ..)| match *kind {
            "sid" => 0,
            "sub" => 1,
            _ => 2,
        });
        self.append_feed(&entries).await?;
        let mut clear = self.owed_clear.prepare_invoke();
        clear.key(self.keys.owed(uid)).arg_pairs(owed.iter());
        from_value::<u64>(self.invoke_durable(clear).await?)
    }

    /// Cluster only: a session script's reply without its trailing owed marker; when the marker was
    /// there, the user's owed entries are appended first (a failure fails the request, and the
    /// entries stay owed for the next attempt or the sweeper).
    pub(super) async fn settle_owed(
        &self,
        uid: &str,
        mut parts: Vec<String>,
    ) -> Result<Vec<String>, StoreError> {
        if parts.last().is_some_and(|p| p == OWED) {
            parts.pop();
            self.index_owed(uid).await?;
            self.drain_owed(uid).await?;
        }
        Ok(parts)
    }
}

impl RedisStore {
    /// Cluster only: appends what the users indexed at least `older_than_ms` ago still owe, and
    /// drops them from the index once they owe nothing (see the module doc). Returns how many users
    /// it looked at.
    pub(super) async fn sweep(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        let mut due = self.owed_index.prepare_invoke();
        due.key(self.keys.owed_index())
            .arg("due")
            .arg(older_than_ms.max(0))
            .arg(self.time_offset_ms())
            .arg(SWEEP_BATCH);
        let flat: Vec<String> = from_value(self.invoke(due).await?)?;
        let mut seen = 0;
        for pair in flat.chunks(2) {
            let [uid, score] = pair else { continue };
            seen += 1;
            if self.drain_owed(uid).await? == 0 {
                let mut done = self.owed_index.prepare_invoke();
                done.key(self.keys.owed_index()).arg("done").arg(uid).arg(score);
                self.invoke_durable(done).await?;
            }
        }
        Ok(seen)
    }
}

#[async_trait]
impl FeedStore for RedisStore {
    async fn sweep_owed(&self, older_than_ms: i64) -> Result<usize, StoreError> {
        if !self.cluster {
            return Ok(0);
        }
        self.sweep(older_than_ms).await
    }

    async fn feed_after(
        &self,
        after: EntryId,
        count: usize,
    ) -> Result<Vec<(EntryId, FeedEntry)>, StoreError> {
        let reply: redis::Value = self
            .query(
                redis::cmd("XRANGE")
                    .arg(self.keys.revocation_feed())
                    .arg(format!("({after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count.max(1)),
            )
            .await?;
        shared::revocation::feed::parse_range(reply)
            .map_err(StoreError::Protocol)?
            .into_iter()
            .map(|(id, fields)| {
                let entry = FeedEntry::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(StoreError::Protocol)?;
                Ok((id, entry))
            })
            .collect()
    }
}

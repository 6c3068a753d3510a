//! The revocation feed.

use super::*;

#[async_trait]
impl FeedStore for MemoryStore {
    async fn feed_after(
        &self,
        after: EntryId,
        count: usize,
    ) -> Result<Vec<(EntryId, FeedEntry)>, StoreError> {
        let now = self.clock.now_ms();
        let min_ms = u64::try_from(now - self.feed_life_ms).unwrap_or(0);
        let inner = self.lock()?;
        Ok(inner
            .feed
            .iter()
            .filter(|(id, _)| *id > after && id.ms >= min_ms)
            .take(count)
            .cloned()
            .collect())
    }

    async fn sweep_owed(&self, _older_than_ms: i64) -> Result<usize, StoreError> {
        // A revocation and its feed entry are one step under the lock: nothing is ever owed.
        Ok(0)
    }
}

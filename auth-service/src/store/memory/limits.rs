//! Rate limits: the gate and failure counters.

use super::*;

#[async_trait]
impl LimitStore for MemoryStore {
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let mut gate = Gate::Open;
        for counter in hits {
            if let Some(retry_after_ms) = inner.hit(counter, now) {
                gate = Gate::Limited { retry_after_ms };
                break;
            }
        }
        if gate == Gate::Open {
            for counter in locks {
                if let Some(retry_after_ms) = inner.locked(counter, now) {
                    gate = Gate::Limited { retry_after_ms };
                    break;
                }
            }
        }
        inner.wrote(now);
        inner.commit()?;
        Ok(gate)
    }

    async fn fail(&self, counters: &[Counter]) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut inner = self.write()?;
        let mut most = 0;
        for counter in counters {
            inner.hit(counter, now);
            most = most.max(inner.counters.get(&counter.key).map_or(0, |(n, _)| *n));
        }
        inner.wrote(now);
        inner.commit()?;
        Ok(most)
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut inner = self.write()?;
        for key in keys {
            inner.counters.remove(key);
        }
        inner.commit()
    }
}

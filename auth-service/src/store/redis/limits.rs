//! Rate limits: the gate and failure counters, and a cluster's hot counters (see the parent module's
//! doc).

use super::*;

impl RedisStore {
    /// Cluster only: whether this gate counter was found over its limit and its window has not ended.
    pub(super) fn is_hot(&self, key: &str) -> bool {
        let hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        hot.get(key).is_some_and(|until| *until > Instant::now())
    }

    pub(super) fn mark_hot(&self, key: &str, for_ms: i64) {
        let mut hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
        if hot.len() >= HOT_IPS_MAX {
            let now = Instant::now();
            hot.retain(|_, until| *until > now);
            if hot.len() >= HOT_IPS_MAX {
                hot.clear();
            }
        }
        let for_ms = u64::try_from(for_ms.max(1)).unwrap_or(1);
        hot.insert(key.to_string(), Instant::now() + Duration::from_millis(for_ms));
    }

    /// One counter's gate call (a cluster counts each counter in a call of its own).
    pub(super) fn gate_call<'a>(&'a self, counter: &Counter, hit: bool) -> Call<'a> {
        let mut call = self.gate.prepare_invoke();
        call.arg(usize::from(hit))
            .key(self.keys.rate_limit(&counter.key))
            .arg(counter.limit)
            .arg(counter.window_ms.max(1));
        call
    }
}

#[async_trait]
impl LimitStore for RedisStore {
    async fn gate(&self, hits: &[Counter], locks: &[Counter]) -> Result<Gate, StoreError> {
        if self.cluster {
            // One call per counter (each in a slot of its own), sent together; the first over its
            // limit, in order, decides.
            let calls = hits
                .iter()
                .map(|c| (c, true))
                .chain(locks.iter().map(|c| (c, false)))
                .map(|(c, hit)| async move { from_value::<i64>(self.invoke(self.gate_call(c, hit)).await?) });
            let ttls = futures::future::try_join_all(calls).await?;
            return Ok(ttls
                .into_iter()
                .map(gate_of)
                .find(|g| *g != Gate::Open)
                .unwrap_or(Gate::Open));
        }
        let mut inv = self.gate.prepare_invoke();
        inv.arg(hits.len());
        for c in hits.iter().chain(locks) {
            inv.key(self.keys.rate_limit(&c.key))
                .arg(c.limit)
                .arg(c.window_ms.max(1));
        }
        let ttl: i64 = from_value(self.invoke(inv).await?)?;
        Ok(gate_of(ttl))
    }

    async fn fail(&self, counters: &[Counter]) -> Result<u64, StoreError> {
        if counters.is_empty() {
            return Ok(0);
        }
        let fail_call = |chunk: &[Counter]| {
            let mut inv = self.fail.prepare_invoke();
            for c in chunk {
                inv.key(self.keys.rate_limit(&c.key)).arg(c.window_ms.max(1));
            }
            inv
        };
        if self.cluster {
            let calls = counters
                .chunks(1)
                .map(|one| async move { from_value::<u64>(self.invoke_durable(fail_call(one)).await?) });
            let counts = futures::future::try_join_all(calls).await?;
            return Ok(counts.into_iter().max().unwrap_or(0));
        }
        from_value::<u64>(self.invoke_durable(fail_call(counters)).await?)
    }

    async fn reset(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        if self.cluster {
            let calls = keys.iter().map(|key| async move {
                self.query::<i64>(redis::cmd("DEL").arg(self.keys.rate_limit(key)))
                    .await
            });
            return futures::future::try_join_all(calls).await.map(|_| ());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.keys.rate_limit(key));
        }
        self.query::<i64>(&cmd).await.map(|_| ())
    }
}

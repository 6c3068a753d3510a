//! The layout before hash tags, renamed on first use (see the parent module's doc), and the set of
//! active admins built once.

use super::*;

impl RedisStore {
    /// Renames keys of the layout before hash tags, once (see the module doc).
    pub(super) async fn layout(&self) -> Result<(), StoreError> {
        if self.layout_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.layout_lock.lock().await;
        if self.layout_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.cluster {
            self.rename_legacy_keys().await?;
        }
        self.build_admins().await?;
        self.layout_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Builds the set of active admins from the records, once per deployment (a store written before
    /// the set existed): in one script on one Redis or Sentinel; in steps on a cluster, where the
    /// records are in slots of their own (an admin demoted by another replica while a cluster's set
    /// is built may be counted: the only window, once, at the first start of this version).
    pub(super) async fn build_admins(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        if !self.cluster {
            let (before, after) = keys.user_affixes();
            let mut inv = self.admins_build.prepare_invoke();
            inv.key(keys.user_ids())
                .key(keys.admins())
                .key(keys.admins_built())
                .arg(before)
                .arg(after);
            self.redis.invoke_durable(inv).await?;
            return Ok(());
        }
        let built: Option<String> = self
            .redis
            .query(redis::cmd("GET").arg(keys.admins_built()))
            .await?;
        if built.is_some() {
            return Ok(());
        }
        let ids: Vec<String> = self
            .redis
            .query(redis::cmd("ZRANGE").arg(keys.user_ids()).arg(0).arg(-1))
            .await?;
        for id in ids {
            let fields: Vec<Option<String>> = self
                .redis
                .query(redis::cmd("HMGET").arg(keys.user(&id)).arg("rol").arg("active"))
                .await?;
            if matches!(fields.as_slice(), [Some(rol), Some(active)] if rol == "admin" && active == "1") {
                self.admins_call(&id, "put").await?;
            }
        }
        self.redis
            .query_durable::<()>(redis::cmd("SET").arg(keys.admins_built()).arg("1"))
            .await
    }

    /// Cluster: takes a user out of the set of active admins unless it is the last (`take`:
    /// `false` then), or puts one in (`put`). See `lua/admins_take.lua`.
    pub(super) async fn admins_call(&self, uid: &str, op: &str) -> Result<bool, StoreError> {
        let mut inv = self.admins_take.prepare_invoke();
        inv.key(self.keys.admins()).arg(uid).arg(op);
        Ok(from_value::<i64>(self.redis.invoke_durable(inv).await?)? == 1)
    }

    pub(super) async fn rename_legacy_keys(&self) -> Result<(), StoreError> {
        let keys = &self.keys;
        let (renamed, dropped) =
            shared::store::rename_keys(&self.redis, keys.base(), &keys.layout(), |key| {
                match legacy::destination(keys, key) {
                    legacy::Move::Keep => Rename::Keep,
                    legacy::Move::Drop => Rename::Drop,
                    legacy::Move::To(to) => Rename::To(to),
                    legacy::Move::Session { sid } => {
                        let keys = keys.clone();
                        Rename::ByField {
                            field: "uid",
                            to: Box::new(move |uid| keys.session(uid, &sid)),
                        }
                    }
                }
            })
            .await?;
        if renamed + dropped > 0 {
            tracing::info!(
                renamed,
                dropped,
                "store: keys of the layout before hash tags renamed"
            );
        }
        Ok(())
    }
}

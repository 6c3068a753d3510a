//! The embedded store: a map behind one lock; each operation is atomic.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{NewSolicitud, SolicitudStore, StoreError, Transition};
use crate::domain::{Estado, Solicitud};

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    items: BTreeMap<u64, Solicitud>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("embedded store lock poisoned".into()))
    }
}

#[async_trait]
impl SolicitudStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.lock().map(|_| ())
    }

    async fn create(&self, new: NewSolicitud) -> Result<Solicitud, StoreError> {
        let mut inner = self.lock()?;
        inner.next_id += 1;
        let solicitud = new.with_id(inner.next_id);
        inner.items.insert(solicitud.id, solicitud.clone());
        Ok(solicitud)
    }

    async fn get(&self, id: u64) -> Result<Option<Solicitud>, StoreError> {
        Ok(self.lock()?.items.get(&id).cloned())
    }

    async fn list(&self, solicitante: Option<&str>) -> Result<Vec<Solicitud>, StoreError> {
        Ok(self
            .lock()?
            .items
            .values()
            .filter(|s| solicitante.is_none_or(|who| s.solicitante == who))
            .cloned()
            .collect())
    }

    async fn transition(
        &self,
        id: u64,
        from: Estado,
        to: Estado,
        now: &str,
    ) -> Result<Transition, StoreError> {
        let mut inner = self.lock()?;
        let Some(item) = inner.items.get_mut(&id) else {
            return Ok(Transition::Missing);
        };
        if item.estado != from {
            return Ok(Transition::Conflict(item.clone()));
        }
        item.estado = to;
        item.actualizada_en = now.to_string();
        Ok(Transition::Done(item.clone()))
    }
}

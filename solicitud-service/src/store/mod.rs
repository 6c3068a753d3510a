//! Where transport requests live: one trait, two implementations that pass the same conformance
//! suite (`tests/api/store.rs`): Redis when `REDIS_URL` is set, the embedded store otherwise.
//!
//! Requests are business records: they are kept without a TTL. A state change is one atomic
//! compare-and-set ("if it is still pendiente"), so two admins deciding at once cannot both win.

pub mod memory;
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
pub use shared::store::StoreError;

use crate::domain::{Estado, Solicitud};

/// A request before it has an id.
#[derive(Debug, Clone)]
pub struct NewSolicitud {
    pub solicitante: String,
    pub origen: String,
    pub destino: String,
    pub fecha_servicio: String,
    pub pasajeros: u8,
    pub motivo: String,
    pub creada_en: String,
}

impl NewSolicitud {
    pub fn with_id(self, id: u64) -> Solicitud {
        Solicitud {
            id,
            solicitante: self.solicitante,
            origen: self.origen,
            destino: self.destino,
            fecha_servicio: self.fecha_servicio,
            pasajeros: self.pasajeros,
            motivo: self.motivo,
            estado: Estado::Pendiente,
            actualizada_en: self.creada_en.clone(),
            creada_en: self.creada_en,
        }
    }
}

/// What a compare-and-set of the state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Done(Solicitud),
    /// Its state was no longer the expected one; here it is as it stands.
    Conflict(Solicitud),
    Missing,
}

#[async_trait]
pub trait SolicitudStore: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores a new request under the next id.
    async fn create(&self, new: NewSolicitud) -> Result<Solicitud, StoreError>;
    async fn get(&self, id: u64) -> Result<Option<Solicitud>, StoreError>;
    /// Every request (`None`) or one person's, by id.
    async fn list(&self, solicitante: Option<&str>) -> Result<Vec<Solicitud>, StoreError>;
    /// Moves `id` from `from` to `to` if it is still in `from`.
    async fn transition(
        &self,
        id: u64,
        from: Estado,
        to: Estado,
        now: &str,
    ) -> Result<Transition, StoreError>;
}

pub type SharedStore = Arc<dyn SolicitudStore>;

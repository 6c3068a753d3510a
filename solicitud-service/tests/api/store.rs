//! The conformance suite of the solicitud store, against Redis and the embedded store.

use std::sync::Arc;

use solicitud_service::domain::Estado;
use solicitud_service::store::memory::MemoryStore;
use solicitud_service::store::redis::RedisStore;
use solicitud_service::store::{NewSolicitud, SharedStore, Transition};

use crate::helpers::{redis_url, unique_prefix};

fn stores() -> Vec<SharedStore> {
    vec![
        Arc::new(RedisStore::new(&redis_url(), &unique_prefix()).unwrap()),
        Arc::new(MemoryStore::new()),
    ]
}

fn new(owner: &str) -> NewSolicitud {
    NewSolicitud {
        solicitante: owner.into(),
        origen: "Cali — Estación".into(),
        destino: "Palmira \"centro\"".into(),
        fecha_servicio: "2031-01-01T00:00:00Z".into(),
        pasajeros: 4,
        motivo: "diligencia / judicial ñ".into(),
        creada_en: "2030-01-01T00:00:00Z".into(),
    }
}

#[tokio::test]
async fn ids_are_sequential_and_records_round_trip_exactly() {
    for store in stores() {
        let a = store.create(new("maria")).await.unwrap();
        let b = store.create(new("pedro")).await.unwrap();
        assert_eq!((a.id, b.id), (1, 2), "{}", store.kind());
        assert_eq!(a.estado, Estado::Pendiente);
        assert_eq!(store.get(a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(store.get(99).await.unwrap(), None);
        assert_eq!(store.list(None).await.unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(store.list(Some("maria")).await.unwrap(), vec![a]);
        assert!(store.list(Some("nadie")).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_transition_is_a_compare_and_set() {
    for store in stores() {
        let a = store.create(new("maria")).await.unwrap();
        let done = store
            .transition(a.id, Estado::Pendiente, Estado::Aprobada, "2030-01-02T00:00:00Z")
            .await
            .unwrap();
        let Transition::Done(updated) = done else {
            panic!("{done:?}")
        };
        assert_eq!(
            (updated.estado, updated.actualizada_en.as_str()),
            (Estado::Aprobada, "2030-01-02T00:00:00Z")
        );
        assert_eq!(
            updated.motivo,
            a.motivo,
            "{}: other fields untouched",
            store.kind()
        );
        assert_eq!(store.get(a.id).await.unwrap(), Some(updated.clone()));
        assert_eq!(
            store
                .transition(a.id, Estado::Pendiente, Estado::Rechazada, "x")
                .await
                .unwrap(),
            Transition::Conflict(updated)
        );
        assert_eq!(
            store
                .transition(42, Estado::Pendiente, Estado::Rechazada, "x")
                .await
                .unwrap(),
            Transition::Missing
        );
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error() {
    let store = RedisStore::new("redis://127.0.0.1:1", "x:").unwrap();
    use solicitud_service::store::SolicitudStore;
    assert!(store.ping().await.is_err());
    assert!(store.list(None).await.is_err());
    assert!(store.create(new("m")).await.is_err());
}

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
        round_trip(store).await;
    }
}

async fn round_trip(store: SharedStore) {
    {
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
        compare_and_set(store).await;
    }
}

async fn compare_and_set(store: SharedStore) {
    {
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

/// The same checks on a real Redis Cluster of 3 primaries and 3 replicas: a create (record and both
/// indexes) is one script, so every key of the store shares one hash tag.
#[tokio::test]
async fn the_suite_passes_on_a_redis_cluster() {
    let cluster = test_support::ClusterProcess::start().unwrap();
    let target = shared::store::RedisTarget::Cluster {
        nodes: cluster.seeds().split(',').map(str::to_string).collect(),
    };
    round_trip(Arc::new(RedisStore::to(&target, &unique_prefix()).unwrap())).await;
    compare_and_set(Arc::new(RedisStore::to(&target, &unique_prefix()).unwrap())).await;
}

/// Keys of the layout before the hash tag (`P sol:...`) are renamed on first use: the records, the
/// indexes and the sequence carry over, with nothing left under the old names.
#[tokio::test]
async fn the_layout_before_the_hash_tag_is_renamed_on_first_use() {
    use solicitud_service::store::SolicitudStore;
    let prefix = unique_prefix();
    // What an earlier version wrote: one request by maria.
    let earlier = RedisStore::new(&redis_url(), &prefix).unwrap();
    let mut a = earlier.create(new("maria")).await.unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reader = conn.clone();
    let keys = |pattern: String| {
        let mut conn = reader.clone();
        async move {
            let mut found: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            found.sort();
            found
        }
    };
    for key in keys(format!("{prefix}*")).await {
        if key.ends_with("layout") {
            let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
            continue;
        }
        let old = key.replace("{sol}:", "sol:");
        let _: () = redis::cmd("RENAME")
            .arg(&key)
            .arg(&old)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    assert_eq!(
        keys(format!("{prefix}*")).await,
        vec![
            format!("{prefix}sol:all"),
            format!("{prefix}sol:by:maria"),
            format!("{prefix}sol:item:1"),
            format!("{prefix}sol:seq"),
        ],
        "the old layout, as an earlier version left it"
    );

    let store = RedisStore::new(&redis_url(), &prefix).unwrap();
    assert_eq!(store.get(1).await.unwrap(), Some(a.clone()));
    let b = store.create(new("maria")).await.unwrap();
    assert_eq!(b.id, 2, "the sequence carried over");
    a.id = 1;
    assert_eq!(store.list(Some("maria")).await.unwrap(), vec![a, b]);
    assert!(
        keys(format!("{prefix}sol:*")).await.is_empty(),
        "nothing left under the old names"
    );
    assert_eq!(
        keys(format!("{prefix}*layout")).await,
        vec![format!("{prefix}{{sol}}:layout")]
    );
}

//! A logout is honoured by the solicitud routes at the next request, on the embedded store and on
//! Redis: in one process they ask the auth service's sessions about every token.

use crate::helpers::{codigo, new_solicitud, StoreKind, TestSystem};

async fn a_logout_is_honoured_at_once(kind: StoreKind) {
    let system = TestSystem::spawn(kind).await;
    let access = system.login().await;
    let (status, _, created) = system
        .send("POST", "/solicitud/", Some(&access), Some(new_solicitud()))
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _, listed) = system.send("GET", "/solicitud/", Some(&access), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["datos"][0]["id"], created["datos"]["id"]);

    let (status, _, body) = system.send("POST", "/auth/logout", Some(&access), None).await;
    assert_eq!(status, 200, "{body}");

    for (method, path) in [
        ("GET", "/solicitud/"),
        ("GET", "/solicitud"),
        ("POST", "/solicitud/"),
    ] {
        let body = (method == "POST").then(new_solicitud);
        let (status, _, refused) = system.send(method, path, Some(&access), body).await;
        assert_eq!(
            (status, codigo(&refused)),
            (401, "TOKEN_REVOKED"),
            "{method} {path}: {refused}"
        );
    }
    // A new login is not affected.
    let fresh = system.login().await;
    let (status, _, listed) = system.send("GET", "/solicitud/", Some(&fresh), None).await;
    assert_eq!(status, 200, "{listed}");
}

#[tokio::test]
async fn a_logout_is_honoured_at_once_by_the_solicitud_routes_on_the_embedded_store() {
    a_logout_is_honoured_at_once(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_logout_is_honoured_at_once_by_the_solicitud_routes_on_redis() {
    a_logout_is_honoured_at_once(StoreKind::Redis).await;
}

async fn a_logout_all_ends_every_session_at_the_solicitud_routes(kind: StoreKind) {
    let system = TestSystem::spawn(kind).await;
    let first = system.login().await;
    let second = system.login().await;
    let (status, _, _) = system.send("GET", "/solicitud/", Some(&second), None).await;
    assert_eq!(status, 200);
    let (status, _, body) = system.send("POST", "/auth/logout-all", Some(&first), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, refused) = system.send("GET", "/solicitud/", Some(&second), None).await;
    assert_eq!((status, codigo(&refused)), (401, "TOKEN_REVOKED"), "{refused}");
}

#[tokio::test]
async fn a_logout_all_ends_every_session_at_the_solicitud_routes_on_the_embedded_store() {
    a_logout_all_ends_every_session_at_the_solicitud_routes(StoreKind::Memory).await;
}

#[tokio::test]
async fn a_logout_all_ends_every_session_at_the_solicitud_routes_on_redis() {
    a_logout_all_ends_every_session_at_the_solicitud_routes(StoreKind::Redis).await;
}

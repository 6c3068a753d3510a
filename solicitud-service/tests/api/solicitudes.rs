//! The solicitud resource: authentication, roles, validation and state rules, on both stores.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use shared::Rol;

use crate::helpers::*;

const KINDS: [StoreKind; 2] = [StoreKind::Redis, StoreKind::Memory];

#[tokio::test]
async fn no_request_reaches_a_handler_without_a_valid_access_token() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    for (method, path) in [
        (reqwest::Method::GET, "/solicitud/"),
        (reqwest::Method::POST, "/solicitud/"),
        (reqwest::Method::GET, "/solicitud/1"),
        (reqwest::Method::PATCH, "/solicitud/1/estado"),
    ] {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!((status, codigo(&body)), (401, "TOKEN_MISSING"), "{method} {path}");
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"), "{method} {path}");
    }
}

#[tokio::test]
async fn expired_forged_and_wrong_kind_tokens_are_refused_locally() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let token = app.maria();
    app.clock.advance_secs(3600 + 10);
    let (status, body) = app.get("/solicitud/", &token).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_EXPIRED"));
    assert_eq!(
        body["detalle"],
        "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo."
    );

    let now = app.clock.now_secs();
    let kid = shared::token::kid_for(SECRET.as_bytes());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.clone());
    let claims = |typ: &str| {
        json!({"sub": "2", "jti": "j", "sid": "s", "iat": now, "nbf": now, "exp": now + 60,
               "iss": "auth-service", "aud": "solicitud-transporte-api", "typ": typ,
               "username": "maria", "email": "m@example.com", "rol": "usuario"})
    };
    let other_key = jsonwebtoken::encode(
        &header,
        &claims("access"),
        &EncodingKey::from_secret(b"another-secret-of-enough-length-000000"),
    )
    .unwrap();
    let refresh = jsonwebtoken::encode(
        &header,
        &claims("refresh"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let good = jsonwebtoken::encode(
        &header,
        &claims("access"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        codigo(&app.get("/solicitud/", &other_key).await.1),
        "TOKEN_INVALID"
    );
    assert_eq!(codigo(&app.get("/solicitud/", &refresh).await.1), "TOKEN_INVALID");
    assert_eq!(
        app.get("/solicitud/", &good).await.0,
        200,
        "control: the same token with the right key and typ"
    );

    // Right key, right claims, but a life no token of the service has: refused.
    let mut century = claims("access");
    century["exp"] = json!(now + 100 * 365 * 24 * 3600);
    let century =
        jsonwebtoken::encode(&header, &century, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    assert_eq!(codigo(&app.get("/solicitud/", &century).await.1), "TOKEN_INVALID");
    // gettoken's two hours (the longest access token, by default) pass.
    let mut two_hours = claims("access");
    two_hours["exp"] = json!(now + 2 * 3600);
    let two_hours =
        jsonwebtoken::encode(&header, &two_hours, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
    assert_eq!(app.get("/solicitud/", &two_hours).await.0, 200);
}

#[tokio::test]
async fn a_usuario_creates_a_pending_request_and_sees_only_their_own() {
    for kind in KINDS {
        let app = TestApp::spawn(kind).await;
        let (status, body) = app.post("/solicitud/", &app.maria(), valid_request()).await;
        assert_eq!(status, 201, "{body}");
        let s = &body["datos"];
        assert_eq!(s["estado"], "pendiente");
        assert_eq!(s["solicitante"], "maria");
        assert_eq!(s["pasajeros"], 3);
        assert_eq!(s["fechaServicio"], "2031-06-01T13:30:00Z");
        assert_eq!(s["creadaEn"], s["actualizadaEn"]);
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        for key in [
            "id",
            "solicitante",
            "origen",
            "destino",
            "fechaServicio",
            "pasajeros",
            "motivo",
            "estado",
            "creadaEn",
            "actualizadaEn",
        ] {
            assert!(keys.contains(&key), "{key} missing in {s}");
        }
        let maria_id = s["id"].as_u64().unwrap();
        let pedro_id = app.create(&app.pedro()).await;

        let (status, body) = app.get("/solicitud/", &app.maria()).await;
        assert_eq!(status, 200);
        let ids: Vec<u64> = body["datos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, vec![maria_id], "{kind:?}");

        let (_, body) = app.get("/solicitud/", &app.admin()).await;
        let ids: Vec<u64> = body["datos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, vec![maria_id, pedro_id], "an admin sees all");

        assert_eq!(
            app.get(&format!("/solicitud/{maria_id}"), &app.maria()).await.0,
            200
        );
        let (status, body) = app.get(&format!("/solicitud/{pedro_id}"), &app.maria()).await;
        assert_eq!(
            (status, codigo(&body)),
            (404, "NOT_FOUND"),
            "someone else's is not found"
        );
        assert_eq!(
            app.get(&format!("/solicitud/{pedro_id}"), &app.admin()).await.0,
            200
        );
        assert_eq!(app.get("/solicitud/999999", &app.admin()).await.0, 404);
        assert_eq!(app.get("/solicitud/abc", &app.admin()).await.0, 404);
    }
}

#[tokio::test]
async fn bad_fields_are_refused_naming_the_field() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let with = |key: &str, value: Value| {
        let mut body = valid_request();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid_request();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = vec![
        ("pasajeros", with("pasajeros", json!(0))),
        ("pasajeros", with("pasajeros", json!(51))),
        ("pasajeros", with("pasajeros", json!(2.5))),
        ("pasajeros", with("pasajeros", json!("3"))),
        ("pasajeros", with("pasajeros", json!(1e300))),
        ("pasajeros", with("pasajeros", json!(18446744073709551615u64))),
        ("motivo", with("motivo", json!(""))),
        ("motivo", with("motivo", json!("x".repeat(501)))),
        ("origen", with("origen", json!("   "))),
        ("destino", without("destino")),
        ("fechaServicio", with("fechaServicio", json!("2031-06-01"))),
        (
            "fechaServicio",
            with("fechaServicio", json!("2001-06-01T08:00:00Z")),
        ),
        (
            "fechaServicio",
            with("fechaServicio", json!("9999-12-31T23:59:59-05:00")),
        ),
    ];
    for (field, body) in cases {
        let (status, got) = app.post("/solicitud/", &app.maria(), body.clone()).await;
        assert_eq!((status, codigo(&got)), (422, "VALIDATION_ERROR"), "{body}: {got}");
        assert!(got["detalle"].as_str().unwrap().contains(field), "{field}: {got}");
    }
    assert!(
        app.get("/solicitud/", &app.admin()).await.1["datos"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing stored"
    );

    let res = app
        .client
        .post(app.url("/solicitud/"))
        .bearer_auth(app.maria())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 400);
}

#[tokio::test]
async fn only_admins_decide_only_owners_cancel_and_decided_requests_stay_decided() {
    for kind in KINDS {
        let app = TestApp::spawn(kind).await;
        let id = app.create(&app.maria()).await;
        let path = format!("/solicitud/{id}/estado");

        let (status, body) = app
            .patch(&path, &app.maria(), json!({"estado": "aprobada"}))
            .await;
        assert_eq!((status, codigo(&body)), (403, "FORBIDDEN"), "{kind:?}");
        let (status, body) = app
            .patch(&path, &app.pedro(), json!({"estado": "cancelada"}))
            .await;
        assert_eq!(
            (status, codigo(&body)),
            (404, "NOT_FOUND"),
            "pedro cannot see maria's"
        );
        let (status, body) = app
            .patch(&path, &app.admin(), json!({"estado": "pendiente"}))
            .await;
        assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"));
        let (status, body) = app
            .patch(&path, &app.admin(), json!({"estado": "archivada"}))
            .await;
        assert_eq!((status, codigo(&body)), (422, "VALIDATION_ERROR"));

        app.clock.advance_secs(60);
        let (status, body) = app
            .patch(&path, &app.admin(), json!({"estado": "aprobada"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["datos"]["estado"], "aprobada");
        assert_ne!(body["datos"]["actualizadaEn"], body["datos"]["creadaEn"]);

        let (status, body) = app
            .patch(&path, &app.admin(), json!({"estado": "rechazada"}))
            .await;
        assert_eq!((status, codigo(&body)), (409, "CONFLICT"));
        let (status, body) = app
            .patch(&path, &app.maria(), json!({"estado": "cancelada"}))
            .await;
        assert_eq!((status, codigo(&body)), (409, "CONFLICT"));
        let (_, body) = app.get(&format!("/solicitud/{id}"), &app.maria()).await;
        assert_eq!(body["datos"]["estado"], "aprobada", "maria sees it approved");

        let other = app.create(&app.maria()).await;
        let (status, body) = app
            .patch(
                &format!("/solicitud/{other}/estado"),
                &app.maria(),
                json!({"estado": "cancelada"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["datos"]["estado"], "cancelada");
    }
}

#[tokio::test]
async fn concurrent_decisions_on_one_request_have_one_winner() {
    for kind in KINDS {
        let app = TestApp::spawn(kind).await;
        let id = app.create(&app.maria()).await;
        let path = format!("/solicitud/{id}/estado");
        let admin = app.admin();
        let results = futures::future::join_all((0..20).map(|i| {
            let estado = if i % 2 == 0 { "aprobada" } else { "rechazada" };
            app.patch(&path, &admin, json!({ "estado": estado }))
        }))
        .await;
        assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 1, "{kind:?}");
        assert!(results.iter().filter(|(s, _)| *s != 200).all(|(s, _)| *s == 409));
    }
}

#[tokio::test]
async fn health_ready_unknown_routes_and_methods_answer_in_the_envelope() {
    let app = TestApp::spawn(StoreKind::Redis).await;
    let (status, body) = read(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!((status, body["datos"]["store"].as_str()), (200, Some("redis")));
    assert_eq!(
        read(app.client.get(app.url("/health")).send().await.unwrap())
            .await
            .0,
        200
    );
    let (status, body) = read(app.client.get(app.url("/nada")).send().await.unwrap()).await;
    assert_eq!((status, codigo(&body)), (404, "NOT_FOUND"));
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/solicitud/", "GET, HEAD, POST"),
        (reqwest::Method::PUT, "/solicitud/", "GET, HEAD, POST"),
        (reqwest::Method::PATCH, "/solicitud/7", "GET, HEAD"),
        (reqwest::Method::GET, "/solicitud/7/estado", "PATCH"),
    ] {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        let (status, body) = read(res).await;
        assert_eq!(
            (status, codigo(&body)),
            (405, "METHOD_NOT_ALLOWED"),
            "{method} {path}"
        );
    }
    let res = app.client.put(app.url("/solicitud/abc")).send().await.unwrap();
    assert!(res.headers().get("allow").is_none());
    assert_eq!(read(res).await.0, 404);
    let token = app.token("maria", Rol::Usuario);
    let big = "x".repeat(1 << 20);
    let res = app
        .client
        .post(app.url("/solicitud/"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!((status, codigo(&body)), (413, "PAYLOAD_TOO_LARGE"));
}

#[tokio::test]
async fn a_token_signed_with_a_listed_previous_secret_is_accepted_until_it_is_dropped() {
    const OLD: &str = "the-old-secret-that-signed-yesterdays-tokens";
    let old_signer = TestApp::spawn_with(StoreKind::Memory, &[("JWT_SECRET", OLD)]).await;
    let token = old_signer.maria();
    let rotated = TestApp::spawn_with(StoreKind::Memory, &[("JWT_PREVIOUS_SECRETS", OLD)]).await;
    assert_eq!(rotated.get("/solicitud/", &token).await.0, 200);
    let dropped = TestApp::spawn(StoreKind::Memory).await;
    let (status, body) = dropped.get("/solicitud/", &token).await;
    assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"));
}

#[tokio::test]
async fn json_edge_cases_answer_as_the_contract_says() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let id = app.create(&app.maria()).await;
    // Valid JSON, a field of the wrong type or value: 422 naming it.
    for estado in [json!(null), json!(3), json!("pendiente"), json!(["aprobada"])] {
        let (status, got) = app
            .patch(
                &format!("/solicitud/{id}/estado"),
                &app.admin(),
                json!({ "estado": estado }),
            )
            .await;
        assert_eq!(
            (status, codigo(&got)),
            (422, "VALIDATION_ERROR"),
            "{estado}: {got}"
        );
        assert!(got["detalle"].as_str().unwrap().contains("estado"), "{got}");
    }
    // Not exactly one JSON document: 400, whatever the fields.
    let mut invalid_utf8 = br#"{"origen":"A","destino":"B","x":""#.to_vec();
    invalid_utf8.extend_from_slice(b"\xff\xfe\"}");
    for body in [
        br#"{"a":1}{"b":2}"#.to_vec(),
        [serde_json::to_vec(&valid_request()).unwrap(), b"{}".to_vec()].concat(),
        invalid_utf8,
    ] {
        let res = app
            .client
            .post(app.url("/solicitud/"))
            .bearer_auth(app.maria())
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, got) = read(res).await;
        assert_eq!(
            (status, codigo(&got)),
            (400, "BAD_REQUEST"),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// JSON Schema's `integer` (the document's type for `pasajeros`) takes `7.0` as 7: so does the handler.
#[tokio::test]
async fn an_integral_float_is_a_passenger_count() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let mut body = valid_request();
    body["pasajeros"] = json!(7.0);
    let (status, got) = app.post("/solicitud/", &app.maria(), body).await;
    assert_eq!(
        (status, got["datos"]["pasajeros"].as_u64()),
        (201, Some(7)),
        "{got}"
    );
}

#[tokio::test]
async fn scopes_decide_what_a_token_with_a_scope_may_do_on_top_of_the_role_rules() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let marias = app.create(&app.maria()).await;
    let estado = |e: &str| json!({ "estado": e });

    // A machine client reading: every solicitud with solicitud:read, nothing without it.
    let reader = app.scoped_token(None, "solicitud:read");
    let (status, body) = app.get("/solicitud/", &reader).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["datos"].as_array().unwrap().len(),
        1,
        "a client reads every solicitud"
    );
    assert_eq!(app.get(&format!("/solicitud/{marias}"), &reader).await.0, 200);
    let (status, body) = app.post("/solicitud/", &reader, valid_request()).await;
    assert_eq!((status, codigo(&body)), (403, "FORBIDDEN"), "no solicitud:write");
    let (status, _) = app
        .patch(
            &format!("/solicitud/{marias}/estado"),
            &reader,
            estado("aprobada"),
        )
        .await;
    assert_eq!(status, 403, "no solicitud:admin");

    // A writer creates as itself, and may cancel only its own.
    let writer = app.scoped_token(None, "solicitud:read solicitud:write");
    let (status, body) = app.post("/solicitud/", &writer, valid_request()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["datos"]["solicitante"], "billing-service");
    let own = body["datos"]["id"].as_u64().unwrap();
    let (status, _) = app
        .patch(
            &format!("/solicitud/{marias}/estado"),
            &writer,
            estado("cancelada"),
        )
        .await;
    assert_eq!(status, 403, "someone else's");
    let (status, body) = app
        .patch(&format!("/solicitud/{own}/estado"), &writer, estado("cancelada"))
        .await;
    assert_eq!(
        (status, body["datos"]["estado"].as_str()),
        (200, Some("cancelada")),
        "{body}"
    );

    // solicitud:admin decides; a write-only token reads nothing.
    let decider = app.scoped_token(None, "solicitud:admin");
    let (status, body) = app
        .patch(
            &format!("/solicitud/{marias}/estado"),
            &decider,
            estado("aprobada"),
        )
        .await;
    assert_eq!(
        (status, body["datos"]["estado"].as_str()),
        (200, Some("aprobada")),
        "{body}"
    );
    assert_eq!(
        app.get("/solicitud/", &app.scoped_token(None, "solicitud:write"))
            .await
            .0,
        403
    );

    // A person's token with a scope: the scope and the role both.
    let admin_read_only = app.scoped_token(Some(("admin", Rol::Admin)), "openid solicitud:read");
    let other = app.create(&app.pedro()).await;
    let (status, _) = app
        .patch(
            &format!("/solicitud/{other}/estado"),
            &admin_read_only,
            estado("rechazada"),
        )
        .await;
    assert_eq!(status, 403, "an admin whose token lacks solicitud:admin");
    let maria_admin_scope = app.scoped_token(Some(("maria", Rol::Usuario)), "solicitud:read solicitud:admin");
    let (status, _) = app
        .patch(
            &format!("/solicitud/{other}/estado"),
            &maria_admin_scope,
            estado("rechazada"),
        )
        .await;
    assert_eq!(status, 404, "a usuario sees only their own, scope or not");
    let (status, body) = app.get("/solicitud/", &maria_admin_scope).await;
    assert_eq!(status, 200);
    assert!(body["datos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["solicitante"] == "maria"));

    // The seed's tokens (no scope) keep the role rules alone.
    assert_eq!(app.get("/solicitud/", &app.maria()).await.0, 200);
    assert_eq!(
        app.post("/solicitud/", &app.maria(), valid_request()).await.0,
        201
    );
}

#[tokio::test]
async fn a_token_that_is_neither_a_persons_nor_a_clients_is_invalid() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let now = app.clock.now_secs();
    let kid = shared::token::kid_for(SECRET.as_bytes());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let base = json!({"jti": "j", "iat": now, "nbf": now, "exp": now + 60, "iss": "auth-service",
                      "aud": "solicitud-transporte-api", "typ": "access"});
    let with = |extra: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    for claims in [
        // No rol and no client: nobody.
        json!({"sub": "2", "sid": "s", "username": "maria", "email": "m@example.com"}),
        // A client whose sub is not its client_id.
        json!({"sub": "1", "client_id": "billing", "scope": "solicitud:read"}),
        // A client token without scope.
        json!({"sub": "billing", "client_id": "billing"}),
        // A client token that also names a person.
        json!({"sub": "billing", "client_id": "billing", "scope": "solicitud:read", "username": "maria"}),
        // A rol without a session.
        json!({"sub": "2", "username": "maria", "email": "m@example.com", "rol": "admin"}),
    ] {
        let (status, body) = app.get("/solicitud/", &with(claims.clone())).await;
        assert_eq!((status, codigo(&body)), (401, "TOKEN_INVALID"), "{claims}");
    }
}

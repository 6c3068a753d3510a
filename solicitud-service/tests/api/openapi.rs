//! The OpenAPI document parses, documents every route, and every documented operation answers a
//! well-formed and a malformed request with a status it documents.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn every_documented_route_answers_with_a_documented_status() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let res = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for route in solicitud_service::routes::table() {
        assert!(
            paths.contains_key(route.template),
            "{route:?} is served but not documented"
        );
    }
    let id = app.create(&app.maria()).await;

    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", &id.to_string());
        for (method, operation) in item.as_object().unwrap() {
            let documented: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = match (method.as_str(), path.as_str()) {
                ("post", "/solicitud/") => Some(valid_request()),
                ("patch", _) => Some(json!({"estado": "cancelada"})),
                _ => None,
            };
            let mut req = app
                .client
                .request(http_method.clone(), app.url(&concrete))
                .bearer_auth(app.maria());
            if let Some(b) = body {
                req = req.json(&b);
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert!(
                documented.contains(&status),
                "{method} {path} (valid) answered {status}, documented {documented:?}"
            );

            let mut req = app.client.request(http_method, app.url(&concrete));
            if method != "get" {
                req = req
                    .header("content-type", "application/json")
                    .body("{\"truncated\": ");
            }
            let status = req.send().await.unwrap().status().as_u16();
            assert!(
                documented.contains(&status),
                "{method} {path} (invalid) answered {status}, documented {documented:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} operations");
}

/// Every method the route table does not list for a path is 405 with `Allow` listing exactly the ones
/// it does (RFC 9110 §15.5.6); every listed method is served (neither 404 nor 405); the document
/// offers exactly the table's methods on each path; an unknown path is 404 whatever the method.
#[tokio::test]
async fn the_route_table_decides_404_405_and_allow_and_matches_the_document() {
    let app = TestApp::spawn(StoreKind::Memory).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS", "HEAD",
    ];
    for route in solicitud_service::routes::table() {
        let mut documented: Vec<String> = doc["paths"][route.template]
            .as_object()
            .unwrap_or_else(|| panic!("{} is served but not documented", route.template))
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        documented.sort();
        let mut served: Vec<String> = route.methods.iter().map(|m| m.to_string()).collect();
        served.sort();
        assert_eq!(
            documented, served,
            "{}: documented vs route table",
            route.template
        );

        let path = route.template.replace("{id}", "1");
        for method in methods {
            let res = app
                .client
                .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let allow = res
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            // HEAD is answered wherever GET is (RFC 9110 §9.3.2), and listed in `Allow` beside it.
            if route.accepts(&Method::from_bytes(method.as_bytes()).unwrap()) {
                assert!(status != 404 && status != 405, "{method} {path}: {status}");
                assert_eq!(allow, None, "{method} {path}");
            } else {
                assert_eq!(status, 405, "{method} {path}");
                assert_eq!(allow.as_deref(), Some(route.allow().as_str()), "{method} {path}");
            }
        }
    }
    for method in methods {
        let res = app
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/no/such/route"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{method}");
        assert!(res.headers().get("allow").is_none(), "{method}");
    }
}

/// The request schemas carry every rule the handlers enforce, from the domain types' constants, and
/// `EstadoRequest` offers only the states a client may set.
#[tokio::test]
async fn request_schemas_carry_the_handlers_rules() {
    use solicitud_service::domain::{Lugar, Motivo, Pasajeros};
    let app = TestApp::spawn(StoreKind::Memory).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let create = &doc["components"]["schemas"]["CreateRequest"];
    let mut required: Vec<&str> = create["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(
        required,
        ["destino", "fechaServicio", "motivo", "origen", "pasajeros"]
    );
    let p = &create["properties"];
    for (field, max) in [
        ("origen", Lugar::MAX_CHARS),
        ("destino", Lugar::MAX_CHARS),
        ("motivo", Motivo::MAX_CHARS),
    ] {
        assert_eq!(p[field]["type"], "string", "{field}");
        assert_eq!(p[field]["minLength"], 1, "{field}");
        assert_eq!(p[field]["maxLength"], max, "{field}");
        assert_eq!(
            p[field]["pattern"],
            shared::ops::not_blank_pattern(),
            "{field}: not only whitespace"
        );
    }
    assert_eq!((Lugar::MAX_CHARS, Motivo::MAX_CHARS), (200, 500));
    assert_eq!(p["pasajeros"]["type"], "integer");
    assert_eq!(p["pasajeros"]["minimum"], json!(Pasajeros::MIN));
    assert_eq!(p["pasajeros"]["maximum"], json!(Pasajeros::MAX));
    assert_eq!((Pasajeros::MIN, Pasajeros::MAX), (1, 50));
    assert_eq!(p["fechaServicio"]["type"], "string");
    assert_eq!(p["fechaServicio"]["format"], "date-time");
    let estado = &doc["components"]["schemas"]["EstadoRequest"];
    assert_eq!(estado["required"], json!(["estado"]));
    assert_eq!(
        estado["properties"]["estado"]["enum"],
        json!(["aprobada", "rechazada", "cancelada"])
    );
}

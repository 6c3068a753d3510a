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
    for route in solicitud_service::routes::ROUTES {
        assert!(paths.contains_key(*route), "{route} is served but not documented");
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

//! The one `recover`: every warp rejection becomes the error envelope, most specific first.
//!
//! Handler errors never come here (handlers return `Result` and are turned into replies directly);
//! what arrives is "no route took this request" (decided by the service's route table, see
//! [`crate::routing`]: 404, or 405 with `Allow`), plus the [`ApiError`]s that extraction filters
//! (body, Bearer token) raise after their route's path and method matched.

use std::convert::Infallible;

use warp::http::header::ALLOW;
use warp::http::HeaderValue;
use warp::reject::{
    InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
    UnsupportedMediaType,
};
use warp::reply::Response;
use warp::Rejection;

use crate::error::ApiError;

/// The rejection for a known path and a method it does not accept (the methods it does, upper-case,
/// in the order `Allow` lists them): [`recover`] answers it 405 with `Allow`.
#[derive(Debug)]
pub struct NotAllowed(pub &'static [&'static str]);

impl warp::reject::Reject for NotAllowed {}

/// The `Allow` header of a path that accepts `methods`: each in order, with `HEAD` after `GET` (warp
/// answers HEAD wherever GET is).
pub fn allow(methods: &[&str]) -> String {
    let mut listed = Vec::with_capacity(methods.len() + 1);
    for method in methods {
        listed.push(*method);
        if *method == "GET" && !methods.contains(&"HEAD") {
            listed.push("HEAD");
        }
    }
    listed.join(", ")
}

/// Maps a rejection to the envelope. Never fails.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(NotAllowed(methods)) = rejection.find::<NotAllowed>() {
        let mut response = ApiError::MethodNotAllowed.to_response();
        if let Ok(allow) = HeaderValue::from_str(&allow(methods)) {
            response.headers_mut().insert(ALLOW, allow);
        }
        return Ok(response);
    }
    // A handler's own error (a body extractor's) answers as itself, straight from the reference.
    if let Some(e) = rejection.find::<ApiError>() {
        return Ok(e.to_response());
    }
    Ok(warp_rejection(&rejection).map_or_else(|| ApiError::NotFound.to_response(), |e| e.to_response()))
}

/// warp's own rejections, most specific first.
fn warp_rejection(rejection: &Rejection) -> Option<ApiError> {
    if rejection.find::<PayloadTooLarge>().is_some() {
        return Some(ApiError::PayloadTooLarge);
    }
    if rejection.find::<UnsupportedMediaType>().is_some() || rejection.find::<LengthRequired>().is_some() {
        return Some(ApiError::BadRequest(
            "El cuerpo debe ser JSON con Content-Type: application/json.".into(),
        ));
    }
    if rejection.find::<InvalidHeader>().is_some() || rejection.find::<MissingHeader>().is_some() {
        return Some(ApiError::BadRequest(
            "Un encabezado de la solicitud no es válido.".into(),
        ));
    }
    if rejection.find::<InvalidQuery>().is_some() {
        return Some(ApiError::BadRequest("La cadena de consulta no es válida.".into()));
    }
    if rejection.find::<MethodNotAllowed>().is_some() {
        // The route table let the request through, so it lists the method: table and filters disagree.
        tracing::warn!(
            ?rejection,
            "a method the route table accepts was refused by every endpoint"
        );
        return Some(ApiError::MethodNotAllowed);
    }
    if rejection.is_not_found() {
        return Some(ApiError::NotFound);
    }
    tracing::warn!(?rejection, "unhandled rejection");
    Some(ApiError::BadRequest("La solicitud no pudo ser procesada.".into()))
}

#[cfg(test)]
mod tests {
    use crate::routing::serve_table;
    use crate::routing::Route;
    use warp::Filter;

    static TABLE: &[Route] = &[
        Route {
            template: "/auth/login",
            methods: &["POST"],
        },
        Route {
            template: "/items/",
            methods: &["GET", "POST"],
        },
    ];

    async fn answer(method: &str, path: &str, body: Option<&str>) -> (u16, String, Option<String>) {
        let login = warp::path!("auth" / "login")
            .and(warp::post())
            .and(crate::http::json_body::<serde_json::Value>())
            .map(|_v| warp::reply::Reply::into_response("ok"));
        // The POST is joined before the GET, so a bad POST body meets the GET's method rejection.
        let items_post = warp::path!("items")
            .and(warp::post())
            .and(crate::http::json_body::<serde_json::Value>())
            .map(|_v| warp::reply::Reply::into_response("created"));
        let items_get = warp::path!("items")
            .and(warp::get())
            .map(|| warp::reply::Reply::into_response("list"));
        let routes = serve_table(TABLE, login.or(items_post).unify().or(items_get).unify());
        let mut req = warp::test::request().method(method).path(path);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.reply(&routes).await;
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap_or_default();
        (
            res.status().as_u16(),
            body["codigo"].as_str().unwrap_or("").to_string(),
            res.headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    }

    #[tokio::test]
    async fn unknown_routes_are_404_without_allow() {
        for method in ["GET", "TRACE", "DELETE", "PUT", "OPTIONS"] {
            assert_eq!(
                answer(method, "/nowhere", None).await,
                (404, "NOT_FOUND".into(), None),
                "{method}"
            );
        }
    }

    #[tokio::test]
    async fn wrong_methods_on_known_paths_are_405_with_allow() {
        for method in ["GET", "TRACE", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"] {
            let (status, codigo, allow) = answer(method, "/auth/login", None).await;
            assert_eq!((status, allow.as_deref()), (405, Some("POST")), "{method}");
            if method != "HEAD" {
                assert_eq!(codigo, "METHOD_NOT_ALLOWED");
            }
        }
        assert_eq!(
            answer("DELETE", "/items/", None).await,
            (405, "METHOD_NOT_ALLOWED".into(), Some("GET, HEAD, POST".into()))
        );
    }

    #[tokio::test]
    async fn a_bad_body_on_the_right_method_keeps_its_own_error() {
        assert_eq!(
            answer("POST", "/auth/login", None).await,
            (400, "BAD_REQUEST".into(), None)
        );
        assert_eq!(
            answer("POST", "/items/", Some("{\"truncated\": ")).await,
            (400, "BAD_REQUEST".into(), None)
        );
        assert_eq!(answer("POST", "/items/", Some("{}")).await.0, 200);
        assert_eq!(answer("GET", "/items", None).await.0, 200);
    }
}

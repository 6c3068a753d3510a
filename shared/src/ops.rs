//! The operational routes both services serve the same way: `GET /health`, `GET /ready` and
//! `GET /openapi.json` (and `GET /metrics`, in [`crate::metrics`]).

use std::future::Future;
use std::sync::Arc;

use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::envelope::{self, Envelope, ErrorBody, Status};
use crate::http::into_reply;
use crate::store::StoreError;

/// Adds the `bearer` (JWT) security scheme the services' OpenAPI documents refer to.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
    }
}

/// `GET /health`: 200 whenever the process can answer.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The process is up", body = Envelope<Status>)))]
pub fn health() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("health").and(warp::get()).map(|| {
        envelope::ok(
            "Servicio activo",
            Status {
                status: "up",
                store: None,
            },
        )
    })
}

/// `GET /ready`: 200 only when `ping` reaches the store (named `store` in the answer), else 503.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "The store answers", body = Envelope<Status>),
        (status = 503, description = "The store does not answer", body = ErrorBody)
    ))]
pub fn ready<P, F>(
    store: &'static str,
    ping: P,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    P: Fn() -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<(), StoreError>> + Send,
{
    warp::path!("ready")
        .and(warp::get())
        .then(move || {
            let ping = ping.clone();
            async move {
                ping().await?;
                Ok(envelope::ok(
                    "Servicio listo",
                    Status {
                        status: "ready",
                        store: Some(store),
                    },
                ))
            }
        })
        .map(into_reply)
}

/// `GET /openapi.json`: the service's document, serialised once when the route is built.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub fn openapi(
    doc: utoipa::openapi::OpenApi,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let json: Arc<str> = doc.to_json().unwrap_or_else(|_| "{}".into()).into();
    warp::path!("openapi.json").and(warp::get()).map(move || {
        let mut response = Response::new(json.to_string().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
        response
    })
}

//! `GET /openapi.json`: the OpenAPI 3 document, generated from the route functions' annotations and
//! the request and response types themselves.

use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-service",
        description = "Login, refresh rotation, revocation, TOTP MFA and the Saphety-compatible token endpoint. \
                       Every `/auth/*` response is the `{exito, mensaje, datos}` / `{exito, mensaje, detalle, codigo}` envelope."
    ),
    paths(
        super::login::login,
        super::refresh::refresh,
        super::logout::logout,
        super::logout::logout_all,
        super::me::me,
        super::introspect::introspect,
        super::mfa::setup,
        super::mfa::activate,
        super::mfa::verify,
        super::mfa::disable,
        super::saphety::gettoken,
        super::health::health,
        super::health::ready,
        shared::metrics::route,
        route,
    ),
    modifiers(&Bearer),
    tags(
        (name = "auth", description = "Tokens and sessions"),
        (name = "mfa", description = "TOTP second factor"),
        (name = "saphety", description = "SOVOS-Saphety compatible endpoint"),
        (name = "ops", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
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

/// `GET /openapi.json`
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub fn route() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    static JSON: OnceLock<String> = OnceLock::new();
    warp::path!("openapi.json").and(warp::get()).map(|| {
        let json = JSON.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()));
        let mut response = Response::new(json.clone().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
        response
    })
}

//! The response envelope of the contract: `{exito, mensaje, datos}` for success and
//! `{exito, mensaje, detalle, codigo}` for errors (built in [`crate::error`]).

use serde::{Deserialize, Serialize};
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

/// A successful body.
#[derive(Debug, Serialize)]
pub struct Success<'a, T> {
    pub exito: bool,
    pub mensaje: &'a str,
    pub datos: T,
}

/// The success envelope as documented in OpenAPI (`datos` typed per endpoint); the services write it
/// with [`success`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub exito: bool,
    pub mensaje: String,
    pub datos: T,
}

/// `datos` of `/health` and `/ready`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `up` or `ready`.
    pub status: &'static str,
    /// `redis` or `memory` (on `/ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
}

/// An error body; public so clients and tests can read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub exito: bool,
    pub mensaje: String,
    pub detalle: String,
    pub codigo: String,
}

/// The error answers many endpoints share, each declared once for the OpenAPI document: an endpoint
/// lists the type (`responses(..., StoreDown)`) instead of repeating its status and text.
pub mod common {
    use super::ErrorBody;

    /// 503: the store does not answer (fail closed).
    #[derive(utoipa::IntoResponses)]
    pub enum StoreDown {
        #[response(status = 503, description = "The store does not answer")]
        Unavailable(ErrorBody),
    }

    /// 401: no Bearer token, or one that does not verify or stands no more.
    #[derive(utoipa::IntoResponses)]
    pub enum NoToken {
        #[response(status = 401, description = "Token missing, invalid, expired or revoked")]
        Unauthorized(ErrorBody),
    }

    /// 400: a body that is not JSON.
    #[derive(utoipa::IntoResponses)]
    pub enum NotJson {
        #[response(
            status = 400,
            description = "Not JSON, or not `Content-Type: application/json`"
        )]
        BadRequest(ErrorBody),
    }

    /// 413: a body over the limit.
    #[derive(utoipa::IntoResponses)]
    pub enum TooLarge {
        #[response(status = 413, description = "Body over 16 KiB")]
        PayloadTooLarge(ErrorBody),
    }
}

/// `{exito: true, mensaje, datos}` with the given status.
pub fn success<T: Serialize>(status: StatusCode, mensaje: &str, datos: T) -> Response {
    json_response(
        status,
        &Success {
            exito: true,
            mensaje,
            datos,
        },
    )
}

/// `200` with the envelope.
pub fn ok<T: Serialize>(mensaje: &str, datos: T) -> Response {
    success(StatusCode::OK, mensaje, datos)
}

/// Any serialisable body as `application/json`. Serialising our own types cannot fail (no maps with
/// non-string keys); if it ever did, the client still gets a JSON error body, never plain text.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let (status, bytes) = match serde_json::to_vec(body) {
        Ok(bytes) => (status, bytes),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"exito":false,"mensaje":"Error interno del servidor","detalle":"Ocurri\u00f3 un error inesperado.","codigo":"INTERNAL_ERROR"}"#.to_vec(),
            )
        }
    };
    let mut response = Response::new(bytes.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_has_exito_mensaje_datos() {
        let r = ok("Autenticación exitosa", serde_json::json!({"a": 1}));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }
}

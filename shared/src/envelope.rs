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

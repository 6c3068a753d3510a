//! The one `recover`: every warp rejection becomes the error envelope, most specific first.
//!
//! Handler errors never come here (handlers return `Result` and are turned into replies directly);
//! what arrives is "no route took this request", plus the [`ApiError`]s that extraction filters
//! (body, Bearer token) raise after their route's path and method matched.

use std::convert::Infallible;

use warp::reject::{
    InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
    UnsupportedMediaType,
};
use warp::reply::Response;
use warp::Rejection;

use crate::error::ApiError;

/// Maps a rejection to the envelope. Never fails.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    Ok(to_api_error(&rejection).map_or_else(|| ApiError::NotFound.to_response(), |e| e.to_response()))
}

fn to_api_error(rejection: &Rejection) -> Option<ApiError> {
    if let Some(e) = rejection.find::<ApiError>() {
        // Rebuild rather than clone: causes of 5xx are not Clone, and were logged where raised.
        return Some(match e {
            ApiError::ServiceUnavailable(cause) => ApiError::ServiceUnavailable(cause.to_string().into()),
            ApiError::Internal(cause) => ApiError::Internal(cause.to_string().into()),
            ApiError::BadRequest(s) => ApiError::BadRequest(s.clone()),
            ApiError::Validation { field, detalle } => ApiError::validation(field, detalle),
            ApiError::Conflict(s) => ApiError::Conflict(s.clone()),
            ApiError::RateLimited { retry_after_secs } => ApiError::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            ApiError::TokenExpired(kind) => ApiError::TokenExpired(*kind),
            ApiError::TokenMissing => ApiError::TokenMissing,
            ApiError::TokenInvalid => ApiError::TokenInvalid,
            ApiError::TokenRevoked => ApiError::TokenRevoked,
            ApiError::Forbidden => ApiError::Forbidden,
            ApiError::NotFound => ApiError::NotFound,
            ApiError::MethodNotAllowed => ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge => ApiError::PayloadTooLarge,
            ApiError::RequestTimeout => ApiError::RequestTimeout,
            ApiError::HeadersTooLarge => ApiError::HeadersTooLarge,
            ApiError::InvalidCredentials => ApiError::InvalidCredentials,
            ApiError::MfaInvalid => ApiError::MfaInvalid,
        });
    }
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
    use super::*;
    use warp::Filter;

    async fn status_and_codigo(method: &str, path: &str) -> (u16, String) {
        let routes = warp::path!("auth" / "login")
            .and(warp::post())
            .and(crate::http::json_body::<serde_json::Value>())
            .map(|_v| "ok")
            .recover(recover);
        let res = warp::test::request()
            .method(method)
            .path(path)
            .reply(&routes)
            .await;
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap_or_default();
        (
            res.status().as_u16(),
            body["codigo"].as_str().unwrap_or("").to_string(),
        )
    }

    #[tokio::test]
    async fn unknown_routes_and_wrong_methods_get_the_envelope() {
        assert_eq!(
            status_and_codigo("GET", "/nowhere").await,
            (404, "NOT_FOUND".into())
        );
        assert_eq!(
            status_and_codigo("GET", "/auth/login").await,
            (405, "METHOD_NOT_ALLOWED".into())
        );
        assert_eq!(
            status_and_codigo("POST", "/auth/login").await,
            (400, "BAD_REQUEST".into())
        );
    }
}

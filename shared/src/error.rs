//! The error catalogue of the contract: one enum, and exactly one place ([`ApiError::catalogue`]) that
//! maps a variant to status, mensaje and codigo. A reviewer finds where any status code comes from here.
//!
//! 5xx errors carry their cause for the log; the client sees only the catalogue's words.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use crate::claims::TokenKind;
use crate::envelope::{json_response, ErrorBody};

/// The cause of a 5xx, kept for the log only.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Every error a client can receive from `/auth/*` and `/solicitud*`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or the content type is wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("no bearer token")]
    TokenMissing,
    #[error("invalid token")]
    TokenInvalid,
    /// The token's `exp` has passed; the kind chooses the advice in `detalle`.
    #[error("expired {} token", .0.as_str())]
    TokenExpired(TokenKind),
    #[error("revoked token")]
    TokenRevoked,
    /// A client that must authenticate (HTTP Basic) did not, or not correctly: RFC 6749's
    /// `invalid_client`. Answered with `WWW-Authenticate: Basic`.
    #[error("client authentication failed")]
    ClientUnauthorized,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive in time.
    #[error("request timeout")]
    RequestTimeout,
    /// The request headers are over the limit.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// Wrong user or password: one body for every reason, so nothing is learnt from it.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Well-formed JSON whose fields are missing or wrong; `detalle` names the field.
    #[error("validation error on {field}: {detalle}")]
    Validation { field: String, detalle: String },
    #[error("invalid MFA code")]
    MfaInvalid,
    /// The request is understood but the resource's state does not allow it.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The store did not answer: fail closed.
    #[error("store unavailable: {0}")]
    ServiceUnavailable(#[source] Cause),
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl warp::reject::Reject for ApiError {}

/// The seed's exact advice for an expired access token.
pub const ACCESS_EXPIRED_DETALLE: &str =
    "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo.";

impl ApiError {
    /// A validation error for one field.
    pub fn validation(field: impl Into<String>, detalle: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            detalle: detalle.into(),
        }
    }

    /// A 503 from a store error.
    pub fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::ServiceUnavailable(Box::new(cause))
    }

    /// A 500 from any error.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(cause))
    }

    /// The one mapping: status, mensaje, codigo.
    pub fn catalogue(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "Solicitud inválida", "BAD_REQUEST"),
            TokenMissing => (
                StatusCode::UNAUTHORIZED,
                "Token no proporcionado",
                "TOKEN_MISSING",
            ),
            TokenInvalid => (StatusCode::UNAUTHORIZED, "Token inválido", "TOKEN_INVALID"),
            TokenExpired(_) => (StatusCode::UNAUTHORIZED, "Token expirado", "TOKEN_EXPIRED"),
            TokenRevoked => (StatusCode::UNAUTHORIZED, "Token revocado", "TOKEN_REVOKED"),
            ClientUnauthorized => (
                StatusCode::UNAUTHORIZED,
                "Cliente no autorizado",
                "INVALID_CLIENT",
            ),
            Forbidden => (StatusCode::FORBIDDEN, "Permisos insuficientes", "FORBIDDEN"),
            NotFound => (StatusCode::NOT_FOUND, "Recurso no encontrado", "NOT_FOUND"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Método no permitido",
                "METHOD_NOT_ALLOWED",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Solicitud demasiado grande",
                "PAYLOAD_TOO_LARGE",
            ),
            RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Tiempo de espera agotado",
                "REQUEST_TIMEOUT",
            ),
            HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Encabezados demasiado grandes",
                "HEADERS_TOO_LARGE",
            ),
            InvalidCredentials => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Credenciales inválidas",
                "INVALID_CREDENTIALS",
            ),
            Validation { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Datos inválidos",
                "VALIDATION_ERROR",
            ),
            MfaInvalid => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Código MFA inválido",
                "MFA_INVALID",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "Conflicto de estado", "CONFLICT"),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Demasiadas solicitudes",
                "RATE_LIMITED",
            ),
            ServiceUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "SERVICE_UNAVAILABLE",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error interno del servidor",
                "INTERNAL_ERROR",
            ),
        }
    }

    /// The human explanation; never contains internals.
    pub fn detalle(&self) -> String {
        use ApiError::*;
        match self {
            BadRequest(why) => why.clone(),
            TokenMissing => "Incluya el encabezado Authorization: Bearer <token>.".into(),
            TokenInvalid => "El token no es válido: revise su formato y su firma.".into(),
            TokenExpired(TokenKind::Access) => ACCESS_EXPIRED_DETALLE.into(),
            TokenExpired(TokenKind::Refresh) => {
                "El refresh token ha expirado. Inicie sesión nuevamente.".into()
            }
            TokenExpired(TokenKind::Mfa) => "El desafío MFA ha expirado. Inicie sesión nuevamente.".into(),
            TokenRevoked => "El token o su sesión fue revocado. Inicie sesión nuevamente.".into(),
            ClientUnauthorized => {
                "Autentíquese como cliente de introspección (HTTP Basic con su client_id y secreto).".into()
            }
            Forbidden => "Su rol no tiene permiso para esta acción.".into(),
            NotFound => "La ruta o el recurso solicitado no existe.".into(),
            MethodNotAllowed => "El método HTTP no está permitido en esta ruta.".into(),
            PayloadTooLarge => format!(
                "El cuerpo de la solicitud supera el límite de {} KiB.",
                crate::wire::BODY_LIMIT / 1024
            ),
            RequestTimeout => "El cuerpo de la solicitud no llegó a tiempo.".into(),
            HeadersTooLarge => format!(
                "Los encabezados superan el límite de {} KiB.",
                crate::wire::MAX_HEADER_BYTES / 1024
            ),
            InvalidCredentials => "Usuario o contraseña incorrectos.".into(),
            Validation { detalle, .. } => detalle.clone(),
            MfaInvalid => "El código es incorrecto, ya fue usado o expiró.".into(),
            Conflict(why) => why.clone(),
            RateLimited { retry_after_secs } => {
                format!("Demasiados intentos. Intente de nuevo en {retry_after_secs} segundos.")
            }
            ServiceUnavailable(_) => "El almacén de estado no responde. Intente de nuevo más tarde.".into(),
            Internal(_) => "Ocurrió un error inesperado.".into(),
        }
    }

    /// The envelope, with `Retry-After` where it applies. A 5xx logs its whole cause chain here.
    pub fn to_response(&self) -> Response {
        let (status, mensaje, codigo) = self.catalogue();
        if status.is_server_error() {
            let mut chain = self.to_string();
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(codigo, error = %chain, "request failed");
        }
        let body = ErrorBody {
            exito: false,
            mensaje: mensaje.into(),
            detalle: self.detalle(),
            codigo: codigo.into(),
        };
        let mut response = json_response(status, &body);
        if let ApiError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let ApiError::ClientUnauthorized = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"introspection\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_an_upper_snake_codigo_and_a_detalle() {
        let all = [
            ApiError::BadRequest("x".into()),
            ApiError::TokenMissing,
            ApiError::TokenInvalid,
            ApiError::TokenExpired(TokenKind::Access),
            ApiError::TokenRevoked,
            ApiError::ClientUnauthorized,
            ApiError::Forbidden,
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge,
            ApiError::RequestTimeout,
            ApiError::HeadersTooLarge,
            ApiError::InvalidCredentials,
            ApiError::validation("f", "d"),
            ApiError::MfaInvalid,
            ApiError::Conflict("c".into()),
            ApiError::RateLimited { retry_after_secs: 3 },
            ApiError::ServiceUnavailable("down".into()),
            ApiError::Internal("boom".into()),
        ];
        for e in all {
            let (status, mensaje, codigo) = e.catalogue();
            assert!(status.is_client_error() || status.is_server_error(), "{e:?}");
            assert!(!mensaje.is_empty());
            assert!(
                codigo.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{codigo}"
            );
            assert!(!e.detalle().is_empty());
        }
    }

    #[test]
    fn the_expired_access_detalle_is_the_seeds() {
        assert_eq!(
            ApiError::TokenExpired(TokenKind::Access).detalle(),
            "El token de acceso ha expirado. Use el refresh token para obtener uno nuevo."
        );
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let r = ApiError::RateLimited { retry_after_secs: 42 }.to_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()),
            Some("42")
        );
    }

    #[test]
    fn an_unauthenticated_client_is_told_to_use_basic() {
        let r = ApiError::ClientUnauthorized.to_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic ")));
    }

    #[test]
    fn server_errors_hide_their_cause_from_the_client() {
        let e = ApiError::ServiceUnavailable("connection refused to 10.0.0.7:6379".into());
        assert!(!e.detalle().contains("10.0.0.7"));
    }
}

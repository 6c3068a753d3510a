//! The edge: what each [`Refusal`] answers in the envelope. The one place where a use case's refusal
//! becomes a status, a `mensaje` and a `codigo` (the Saphety endpoint has its own, in `saphety.rs`).

use shared::http::token_error;
use shared::ApiError;

use crate::refusal::Refusal;

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            Refusal::BadCredentials => ApiError::InvalidCredentials,
            Refusal::PasswordTooLong { max } => ApiError::validation(
                "password",
                format!("El campo 'password' admite como máximo {max} caracteres."),
            ),
            Refusal::BadCode => ApiError::MfaInvalid,
            Refusal::MfaAlreadyActive => ApiError::Conflict(
                "MFA ya está activo para este usuario; desactívelo antes de configurarlo de nuevo.".into(),
            ),
            Refusal::MfaNotActive => ApiError::Conflict("MFA no está activo para este usuario.".into()),
            Refusal::MfaNotPending => ApiError::Conflict(
                "No hay una configuración MFA pendiente: llame primero a /auth/mfa/setup.".into(),
            ),
            Refusal::Token(kind, e) => token_error(kind, e),
            Refusal::Revoked => ApiError::TokenRevoked,
            Refusal::Store(e) => ApiError::from(e),
            Refusal::Internal(e) => ApiError::Internal(e),
        }
    }
}

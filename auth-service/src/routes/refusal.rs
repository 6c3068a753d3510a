//! The edge: what each [`Refusal`] answers in the envelope. The one place where a use case's refusal
//! becomes a status, a `mensaje` and a `codigo` (the Saphety endpoint has its own, in `saphety.rs`).

use shared::http::token_error;
use shared::ApiError;

use crate::passkeys::MAX_NAME_CHARS;
use crate::password_policy::{Rule, MIN_CHARS};
use crate::passwords::MAX_PASSWORD_CHARS;
use crate::refusal::{PasskeyProblem, Refusal};
use crate::store::Taken;

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
            // No envelope endpoint takes the code with the password today (they answer a challenge).
            Refusal::SecondFactorRequired => {
                ApiError::validation("code", "Se requiere el código MFA del usuario.")
            }
            Refusal::MfaAlreadyActive => ApiError::Conflict(
                "MFA ya está activo para este usuario; desactívelo antes de configurarlo de nuevo.".into(),
            ),
            Refusal::MfaNotActive => ApiError::Conflict("MFA no está activo para este usuario.".into()),
            Refusal::MfaNotPending => ApiError::Conflict(
                "No hay una configuración MFA pendiente: llame primero a /auth/mfa/setup.".into(),
            ),
            Refusal::Token(kind, e) => token_error(kind, e),
            Refusal::Revoked => ApiError::TokenRevoked,
            Refusal::Forbidden => ApiError::Forbidden,
            Refusal::UnknownUser => ApiError::NotFound,
            Refusal::Taken(which) => ApiError::Conflict(match which {
                Taken::Username => "El nombre de usuario ya está en uso.".into(),
                Taken::Email => "El correo electrónico ya está en uso.".into(),
                Taken::Id => "El id ya está en uso.".into(),
            }),
            Refusal::WeakPassword { field, rule } => ApiError::validation(
                field,
                format!(
                    "La contraseña no cumple la política ({}): {}.",
                    rule.name(),
                    match rule {
                        Rule::MinLength => format!("debe tener al menos {MIN_CHARS} caracteres"),
                        Rule::MaxLength => format!("admite como máximo {MAX_PASSWORD_CHARS} caracteres"),
                        Rule::Common => "es una de las contraseñas más comunes".into(),
                    }
                ),
            ),
            Refusal::Invalid { field, reason } => ApiError::validation(field, reason),
            Refusal::LastAdmin => ApiError::Conflict(
                "Debe quedar al menos un administrador activo: este cambio no dejaría ninguno.".into(),
            ),
            Refusal::OwnPasswordThroughAdmin => ApiError::Conflict(
                "Un administrador cambia su propia contraseña en POST /auth/password, con la contraseña actual.".into(),
            ),
            Refusal::BadResetToken => ApiError::validation(
                "token",
                "El token para establecer la contraseña no es válido, ya se usó o expiró.",
            ),
            Refusal::PasskeysOff | Refusal::UnknownPasskey => ApiError::NotFound,
            Refusal::BadPasskey(problem) => match problem {
                PasskeyProblem::Name => ApiError::validation(
                    "name",
                    format!("El campo 'name' (el nombre de la llave) admite de 1 a {MAX_NAME_CHARS} caracteres, sin caracteres de control."),
                ),
                PasskeyProblem::Unreadable => ApiError::validation(
                    "credential",
                    "El campo 'credential' no es una credencial WebAuthn legible (RegistrationResponseJSON, lo que da credential.toJSON()) (webauthn_credential).",
                ),
                PasskeyProblem::UnknownCeremony => ApiError::validation(
                    "credential",
                    "El campo 'credential' responde a una ceremonia de registro que no existe, caducó o ya se usó: pida nuevas opciones (webauthn_credential).",
                ),
                PasskeyProblem::Refused => ApiError::validation(
                    "credential",
                    "El campo 'credential' no superó la verificación (origen, dominio, verificación del usuario o algoritmo) (webauthn_credential).",
                ),
                PasskeyProblem::AlreadyRegistered => {
                    ApiError::Conflict("Esa llave de acceso ya está registrada.".into())
                }
            },
            Refusal::TooManyPasskeys { max } => {
                ApiError::Conflict(format!("Se admiten como máximo {max} llaves de acceso por usuario."))
            }
            Refusal::PasswordRequired => ApiError::validation(
                "password",
                "Es el último segundo factor de la cuenta: envíe su contraseña en el campo 'password' para quitarlo.",
            ),
            Refusal::UnknownClient => ApiError::NotFound,
            Refusal::ClientIdTaken => ApiError::Conflict("El client_id ya está registrado.".into()),
            Refusal::PublicClient => ApiError::Conflict(
                "Un cliente público (token_endpoint_auth_method 'none') no tiene secreto.".into(),
            ),
            Refusal::Store(e) => ApiError::from(e),
            Refusal::Internal(e) => ApiError::Internal(e),
        }
    }
}

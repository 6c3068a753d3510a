//! The edge: what each [`Refusal`] answers in the envelope. The one place where a use case's refusal
//! becomes a status, a `mensaje` and a `codigo` (the Saphety endpoint has its own, in `saphety.rs`).

use shared::http::token_error;
use shared::ApiError;

use crate::passkeys::MAX_NAME_CHARS;
use crate::password_policy::{Rule, MIN_CHARS};
use crate::passwords::MAX_PASSWORD_CHARS;
use crate::refusal::{FieldRule, PasskeyProblem, Refusal, UriRule};
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
            Refusal::Invalid(rule) => ApiError::validation(rule.field(), detalle(&rule)),
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

/// A broken field rule in the user's words: the envelope's `detalle` (and what the operators'
/// command line prints). Rules no JSON Schema can say end with their name in parentheses, which the
/// schema fuzzing's check knows (`deploy-tests/schemathesis/hooks.py`).
pub fn detalle(rule: &FieldRule) -> String {
    match rule {
        FieldRule::UsernameAscii => {
            "El campo 'username' admite solo letras y dígitos ASCII y '.', '_', '-', '@'.".into()
        }
        FieldRule::UsernameShape => {
            "El campo 'username' debe tener de 1 a 64 letras, dígitos, '.', '_', '-' o '@'.".into()
        }
        FieldRule::EmailAscii => "El campo 'email' admite solo caracteres ASCII.".into(),
        FieldRule::EmailShape => "El campo 'email' no es una dirección de correo válida.".into(),
        FieldRule::VirtualOperator => {
            "El campo 'virtual_operator' debe tener de 1 a 64 caracteres, sin caracteres de control.".into()
        }
        FieldRule::ClientId => "El campo 'client_id' admite de 1 a 64 letras, dígitos, '-', '.' o '_'.".into(),
        FieldRule::ClientIdDigits => "El campo 'client_id' no puede ser solo dígitos (son ids de usuario).".into(),
        FieldRule::RedirectUri { field, uri, why } => {
            let why = match why {
                UriRule::Shape => {
                    "use https en un dominio, http en localhost o 127.0.0.1, o un esquema propio con punto (com.ejemplo.app:/ruta), con una ruta de letras, dígitos y . _ ~ - y, si acaso, una consulta"
                }
                other => uri_rule(*other),
            };
            format!("La URI '{uri}' de '{field}' no es válida: {why}.")
        }
        FieldRule::BackchannelUri { uri, why } => {
            let why = match why {
                UriRule::Shape => {
                    "use http en un nombre de máquina o 127.0.0.1, con una ruta de letras, dígitos y . _ ~ - y, si acaso, una consulta"
                }
                other => uri_rule(*other),
            };
            format!("La URI '{uri}' de 'backchannel_logout_uri' no es válida: {why}.")
        }
        FieldRule::OneOf { field, value, allowed } => {
            format!("El valor '{value}' de '{field}' no es válido: use {}.", allowed.join(", "))
        }
        FieldRule::ClientName => "El campo 'client_name' es obligatorio (1 a 100 caracteres).".into(),
        FieldRule::GrantTypesEmpty => "El campo 'grant_types' no puede estar vacío.".into(),
        FieldRule::GrantTwice(grant) => format!("'{grant}' aparece dos veces en 'grant_types'."),
        FieldRule::ScopeEmpty => "El campo 'scope' necesita al menos un scope.".into(),
        FieldRule::PublicClientGrant => "El campo 'grant_types' no puede incluir 'client_credentials' en un cliente público (token_endpoint_auth_method 'none') (public_client_grant).".into(),
        FieldRule::RedirectUrisRequired => "El campo 'redirect_uris' necesita al menos una URI en un cliente con 'authorization_code' (redirect_uris_required).".into(),
        FieldRule::SecretHashInFileOnly => "El campo 'client_secret_hash' (y 'active') solo vale en CLIENTS_FILE: el secreto lo genera el servicio.".into(),
        FieldRule::ClientTypeChange => "El campo 'token_endpoint_auth_method' no puede pasar un cliente de confidencial a público ni al revés: registre otro (client_type_change).".into(),
        FieldRule::KeepPrevious { max } => format!("El campo 'keep_previous_seconds' debe estar entre 0 y {max}."),
        FieldRule::Rol(_) => "El campo 'rol' debe ser 'admin' o 'usuario'.".into(),
        FieldRule::PasswordEntry(_) => "El campo 'password' no se pudo leer.".into(),
    }
}

/// How a URI broke its rule, past its shape.
fn uri_rule(rule: UriRule) -> &'static str {
    match rule {
        UriRule::Shape => "no tiene la forma admitida",
        UriRule::NotAbsolute => "no es una URI absoluta",
        UriRule::Fragment => "no puede llevar fragmento (#)",
        UriRule::HttpNotLoopback => "http solo en localhost o una dirección de loopback",
        UriRule::SchemeRefused => "esquema no permitido",
        UriRule::Scheme => "use https, http en loopback o un esquema propio con punto (com.ejemplo.app)",
        UriRule::BackchannelHttps => {
            "este servicio envía el cierre de sesión por canal trasero solo por http (red interna)"
        }
        UriRule::BackchannelScheme => "use http",
        UriRule::BackchannelPublic => {
            "solo una aplicación confidencial (con secreto) recibe el cierre de sesión por canal trasero (backchannel_public_client)"
        }
    }
}

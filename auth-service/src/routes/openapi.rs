//! The OpenAPI 3 document (served by [`shared::ops::openapi`]), generated from the route functions' annotations and
//! the request and response types themselves.

use shared::ops::BearerAuth;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::OpenApi;

use crate::passwords::MAX_PASSWORD_CHARS;

/// A password: at most [`MAX_PASSWORD_CHARS`] characters (a longer one is refused before hashing).
pub(crate) fn password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_PASSWORD_CHARS))
        .build()
}

/// A field that must not be empty nor only whitespace (gettoken's `Required`).
pub(crate) fn non_blank_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .build()
}

/// A non-blank password of at most [`MAX_PASSWORD_CHARS`] characters (gettoken's `Required`, `TooLong`).
pub(crate) fn non_blank_password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .build()
}

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
        shared::ops::health,
        shared::ops::ready,
        shared::metrics::route,
        shared::ops::openapi,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Tokens and sessions"),
        (name = "mfa", description = "TOTP second factor"),
        (name = "saphety", description = "SOVOS-Saphety compatible endpoint"),
        (name = "ops", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

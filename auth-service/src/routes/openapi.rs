//! The OpenAPI 3 document (served by [`shared::ops::openapi`]), generated from the route functions' annotations and
//! the request and response types themselves.

use shared::ops::BearerAuth;
use utoipa::OpenApi;

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
        super::password::change,
        super::password::set,
        super::admin::list,
        super::admin::create,
        super::admin::get,
        super::admin::patch,
        super::admin::reset_password,
        super::admin::unlock,
        super::admin::logout_all,
        super::cuenta::page,
        super::cuenta::script,
        super::cuenta::style,
        shared::ops::health,
        shared::ops::ready,
        shared::metrics::route,
        shared::ops::openapi,
    ),
    modifiers(&BearerAuth, &IntrospectionClientAuth),
    tags(
        (name = "auth", description = "Tokens and sessions"),
        (name = "mfa", description = "TOTP second factor"),
        (name = "saphety", description = "SOVOS-Saphety compatible endpoint"),
        (name = "admin", description = "Users managed live (Bearer token of an admin)"),
        (name = "cuenta", description = "The self-service account page: HTML, JavaScript and CSS (not the envelope), built on the endpoints above"),
        (name = "ops", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

/// Adds the `introspection_client` (HTTP Basic) security scheme `/auth/introspect` refers to.
pub struct IntrospectionClientAuth;

impl utoipa::Modify for IntrospectionClientAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "introspection_client",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Basic)
                        .description(Some(
                            "Required when INTROSPECTION_CLIENTS is set: a configured client id and secret (RFC 7662 §2.1).",
                        ))
                        .build(),
                ),
            );
    }
}

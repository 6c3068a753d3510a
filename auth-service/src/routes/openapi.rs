//! What the OpenAPI document needs beyond the endpoints' annotations: the introspection clients'
//! security scheme. The document itself is derived from the one list of endpoints in `routes/mod.rs`.

/// Adds the `introspection_client` (HTTP Basic) security scheme `/auth/introspect` refers to.
pub(super) struct IntrospectionClientAuth;

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

//! OpenAPI schemas of request fields whose rules the derive cannot say, written once for the route
//! types and the Saphety shapes alike (below both).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

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

/// A new username: 1 to 64 ASCII letters, digits, `.`, `_`, `-`, `@` (what the admin API accepts).
pub(crate) fn new_username_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[A-Za-z0-9._@-]{1,64}$"))
        .build()
}

/// A new e-mail: a valid e-mail address as browsers take it for `<input type="email">`; at most 254.
pub(crate) fn new_email_schema() -> Object {
    // The WHATWG HTML standard's "valid e-mail address" ([`crate::identity::Email::parse`]), as its own
    // regular expression says it.
    let label = "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?";
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(254))
        .pattern(Some(format!(
            "^[a-zA-Z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{label}(?:\\.{label})*$"
        )))
        .build()
}

/// A virtual operator: 1 to 64 characters, none a control character, not all white space (as
/// `str::trim` sees it).
pub(crate) fn operator_schema() -> Object {
    let control = r"\u0000-\u001f\u007f-\u009f";
    let visible = format!(r"[^{control}\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(format!("^[^{control}]*{visible}[^{control}]*$")))
        .build()
}

/// A new password: [`crate::password_policy::MIN_CHARS`] to [`MAX_PASSWORD_CHARS`] characters (and
/// not a common password, which no schema can say: that refusal names the rule `common_password`).
pub(crate) fn new_password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(crate::password_policy::MIN_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .description(Some(
            "At least 12 characters, at most 128, and not one of the 19,640 most common passwords.",
        ))
        .build()
}

/// `schema`, or `null` (an optional field a client may send as `null`: the same as leaving it out).
fn or_null(mut schema: Object) -> Object {
    schema.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// [`new_email_schema`] or `null`.
pub(crate) fn new_email_or_null_schema() -> Object {
    or_null(new_email_schema())
}

/// [`operator_schema`] or `null`.
pub(crate) fn operator_or_null_schema() -> Object {
    or_null(operator_schema())
}

/// [`new_password_schema`] or `null`.
pub(crate) fn new_password_or_null_schema() -> Object {
    or_null(new_password_schema())
}

// --- OAuth 2.0 clients (the admin API) ----------------------------------------------------------

use utoipa::openapi::schema::{Array, ArrayBuilder};

fn one_of_strings(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

fn array_or_null(mut array: Array) -> Array {
    array.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]);
    array
}

/// A `client_id`: 1 to 64 letters, digits, `.`, `_`, `-`, not all digits (those are user ids).
pub(crate) fn client_id_schema() -> Object {
    or_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some("^[A-Za-z0-9._-]*[A-Za-z._-][A-Za-z0-9._-]*$"))
            .build(),
    )
}

/// A client's name: 1 to 100 characters, not only white space.
pub(crate) fn client_name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .build()
}

/// [`client_name_schema`] or `null`.
pub(crate) fn client_name_or_null_schema() -> Object {
    or_null(client_name_schema())
}

/// Redirect URIs: `https` ones, `http` on this machine, or a native app's private-use scheme; the
/// pattern the service itself holds them to ([`crate::oauth::registry::REDIRECT_URI_PATTERN`]).
pub(crate) fn redirect_uris_schema() -> Array {
    let uri = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(crate::oauth::registry::REDIRECT_URI_PATTERN))
        .build();
    ArrayBuilder::new().items(uri).max_items(Some(20)).build()
}

/// A back-channel logout URI, or `null`; `""` removes one in a `PATCH`
/// ([`crate::oauth::registry::BACKCHANNEL_URI_PATTERN`]).
pub(crate) fn backchannel_uri_schema() -> Object {
    or_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(crate::oauth::registry::BACKCHANNEL_URI_PATTERN))
            .build(),
    )
}

/// [`redirect_uris_schema`] or `null`.
pub(crate) fn redirect_uris_or_null_schema() -> Array {
    array_or_null(redirect_uris_schema())
}

/// Grant types: at least one, each once.
pub(crate) fn grant_types_schema() -> Array {
    array_or_null(
        ArrayBuilder::new()
            .items(one_of_strings(&crate::oauth::registry::GRANT_TYPES))
            .min_items(Some(1))
            .unique_items(true)
            .build(),
    )
}

/// Space-separated scopes, each one of [`crate::oauth::registry::SCOPES`].
pub(crate) fn scope_schema() -> Object {
    let one = crate::oauth::registry::SCOPES.join("|");
    or_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^({one})( ({one}))*$")))
            .build(),
    )
}

/// `client_secret_basic`, `client_secret_post` or `none`.
pub(crate) fn auth_method_schema() -> Object {
    or_null(one_of_strings(&crate::oauth::registry::AUTH_METHODS))
}

/// `RS256`, `ES256` or `EdDSA`.
pub(crate) fn id_token_alg_schema() -> Object {
    or_null(one_of_strings(&crate::oauth::registry::ID_TOKEN_ALGS))
}

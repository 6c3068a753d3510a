//! OpenAPI schemas of request fields whose rules the derive cannot say, written once for the route
//! types and the Saphety shapes alike (below both).

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::passwords::MAX_PASSWORD_CHARS;

/// A password: at most [`MAX_PASSWORD_CHARS`] characters (a longer one is refused before hashing).
pub fn password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_PASSWORD_CHARS))
        .build()
}

/// A field that must not be empty nor only whitespace (gettoken's `Required`).
pub fn non_blank_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .build()
}

/// A non-blank password of at most [`MAX_PASSWORD_CHARS`] characters (gettoken's `Required`, `TooLong`).
pub fn non_blank_password_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .pattern(Some(shared::ops::not_blank_pattern()))
        .build()
}

/// A new username: 1 to 64 ASCII letters, digits, `.`, `_`, `-`, `@` (what the admin API accepts).
pub fn new_username_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[A-Za-z0-9._@-]{1,64}$"))
        .build()
}

/// A new e-mail: a valid e-mail address as browsers take it for `<input type="email">`; at most 254.
pub fn new_email_schema() -> Object {
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
pub fn operator_schema() -> Object {
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
pub fn new_password_schema() -> Object {
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
pub fn new_email_or_null_schema() -> Object {
    or_null(new_email_schema())
}

/// [`operator_schema`] or `null`.
pub fn operator_or_null_schema() -> Object {
    or_null(operator_schema())
}

/// [`new_password_schema`] or `null`.
pub fn new_password_or_null_schema() -> Object {
    or_null(new_password_schema())
}

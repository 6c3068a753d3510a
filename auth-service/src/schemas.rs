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

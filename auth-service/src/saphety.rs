//! The SOVOS-Saphety compatible token endpoint's shapes: the `IsValid / Warnings / Errors /
//! ResultData / ResultCode` envelope, byte for byte the seed's field names, and the claims of its
//! token (the seed's claims on top of our access claims, so every backend accepts it).

use serde::Serialize;
use shared::{AccessClaims, Rol};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

/// The namespace of `nameid`: a UUID v5 of the user id under it is stable for ever.
const NAMEID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1e_0a52_9c1d_4b7e_9a3c_5d2b_7e8f_1a40);

/// `expires` as the seed writes it: UTC, seven fractional digits, `Z`.
const EXPIRES_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");

/// The request body, for the OpenAPI document (the handler reads it field by field, so that each
/// missing field can be named in the Saphety shape).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // A documentation type: only its schema is read.
pub(crate) struct GetTokenRequest {
    /// The user's e-mail.
    #[schema(schema_with = crate::schemas::non_blank_schema)]
    pub username: String,
    #[schema(schema_with = crate::schemas::non_blank_password_schema)]
    pub password: String,
    #[schema(schema_with = crate::schemas::non_blank_schema)]
    pub virtual_operator: String,
    /// The current TOTP code; required when the user has MFA on.
    pub otp: Option<String>,
}

/// One entry of `Errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SaphetyError {
    pub field: Option<String>,
    pub code: &'static str,
    pub description: Option<String>,
    pub explanation_values: Vec<String>,
}

/// `ResultData` of a success.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenData {
    pub access_token: String,
    pub expires: String,
    pub token_type: &'static str,
    pub virtual_operator_alias: String,
}

/// The Saphety envelope: `IsValid`, `Warnings`, `Errors`, `ResultData`, `ResultCode`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SaphetyEnvelope {
    pub is_valid: bool,
    /// Always empty.
    pub warnings: Vec<String>,
    pub errors: Vec<SaphetyError>,
    pub result_data: Option<TokenData>,
    /// The HTTP status.
    pub result_code: u16,
}

/// The success reply: 200 and `ResultCode: 200`.
pub(crate) fn success(data: &TokenData) -> Response {
    let body = SaphetyEnvelope {
        is_valid: true,
        warnings: Vec::new(),
        errors: Vec::new(),
        result_data: Some(data.clone()),
        result_code: 200,
    };
    shared::envelope::json_response(StatusCode::OK, &body)
}

/// Why a gettoken request failed; each maps to an HTTP status equal to its `ResultCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Wrong password, unknown e-mail or wrong operator: one answer for all three.
    IdentificationDoesNotMatch,
    /// A field is missing, empty or of the wrong type.
    Field {
        field: &'static str,
        code: &'static str,
    },
    /// The body is not JSON, or too large.
    InvalidRequest {
        status: StatusCode,
        description: &'static str,
    },
    /// The user has MFA on and sent no `otp`.
    MfaRequired,
    /// The `otp` is wrong or was already used.
    MfaInvalid,
    TooManyRequests {
        retry_after_secs: u64,
    },
    ServiceUnavailable,
    Internal,
}

impl Failure {
    pub(crate) fn reply(&self) -> Response {
        let (status, error) = match self {
            Failure::IdentificationDoesNotMatch => (
                StatusCode::BAD_REQUEST,
                entry(None, "IdentificationDoesNotMatch", None),
            ),
            Failure::Field { field, code } => (
                StatusCode::BAD_REQUEST,
                entry(
                    Some(field),
                    code,
                    Some(match *code {
                        "Duplicate" => format!("The field '{field}' appears more than once."),
                        "TooLong" => format!("The field '{field}' is too long."),
                        _ => format!("The field '{field}' is required and must be a non-empty string."),
                    }),
                ),
            ),
            Failure::InvalidRequest { status, description } => (
                *status,
                entry(None, "InvalidRequest", Some((*description).to_string())),
            ),
            Failure::MfaRequired => (
                StatusCode::BAD_REQUEST,
                entry(
                    Some("otp"),
                    "MfaRequired",
                    Some("This user has MFA on: send the current code in 'otp'.".into()),
                ),
            ),
            Failure::MfaInvalid => (StatusCode::BAD_REQUEST, entry(Some("otp"), "MfaInvalid", None)),
            Failure::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                entry(None, "TooManyRequests", None),
            ),
            Failure::ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                entry(None, "ServiceUnavailable", None),
            ),
            Failure::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                entry(None, "InternalError", None),
            ),
        };
        let body = SaphetyEnvelope {
            is_valid: false,
            warnings: Vec::new(),
            errors: vec![error],
            result_data: None,
            result_code: status.as_u16(),
        };
        let mut response = shared::envelope::json_response(status, &body);
        if let Failure::TooManyRequests { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

fn entry(field: Option<&str>, code: &'static str, description: Option<String>) -> SaphetyError {
    SaphetyError {
        field: field.map(str::to_string),
        code,
        description,
        explanation_values: Vec::new(),
    }
}

/// The gettoken token's claims: ours, plus the seed's.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SaphetyClaims {
    #[serde(flatten)]
    pub access: AccessClaims,
    pub given_name: String,
    pub unique_name: String,
    pub nameid: String,
    pub language: String,
    pub usertype: &'static str,
    pub virtualoperator: String,
}

/// The stable `nameid` of a user.
pub(crate) fn nameid(user_id: u64) -> String {
    uuid::Uuid::new_v5(&NAMEID_NAMESPACE, format!("user:{user_id}").as_bytes()).to_string()
}

pub(crate) fn usertype(rol: Rol) -> &'static str {
    match rol {
        Rol::Admin => "Admin",
        Rol::Usuario => "User",
    }
}

/// `exp` (seconds) in the seed's `expires` format.
pub(crate) fn expires(exp_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(exp_secs)
        .ok()
        .and_then(|t| t.format(EXPIRES_FORMAT).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_has_seven_fractional_digits_and_z() {
        assert_eq!(expires(1_685_076_288), "2023-05-26T04:44:48.0000000Z");
    }

    #[test]
    fn nameid_is_a_stable_uuid_per_user() {
        assert_eq!(nameid(7), nameid(7));
        assert_ne!(nameid(7), nameid(8));
        assert_eq!(
            uuid::Uuid::parse_str(&nameid(7))
                .map(|u| u.get_version_num())
                .ok(),
            Some(5)
        );
    }
}

//! `POST /v2/auth/gettoken`: the SOVOS-Saphety token endpoint. Every answer, errors included, is in the
//! Saphety envelope with the HTTP status equal to `ResultCode`.

use bytes::BytesMut;
use serde_json::Value;
use std::net::IpAddr;

use shared::http::{client_ip, json_bytes, parse_json_fields, with_state, JsonError};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::http::StatusCode;
use warp::Filter;

use crate::app::App;
use crate::authenticate::Identifier;
use crate::refusal::Refusal;
use crate::saphety::{
    self, expires, nameid, usertype, Failure, GetTokenRequest, SaphetyClaims, SaphetyEnvelope, TokenData,
};
use crate::users::User;

/// `POST /v2/auth/gettoken`
#[utoipa::path(post, path = "/v2/auth/gettoken", tag = "saphety", request_body = GetTokenRequest,
    responses(
        (status = 200, description = "`IsValid: true` and the token", body = SaphetyEnvelope),
        (status = 400, description = "`IdentificationDoesNotMatch`, a missing field (`Field` names it), `InvalidRequest`, `MfaRequired`, `MfaInvalid`", body = SaphetyEnvelope),
        (status = 413, description = "Body over 16 KiB", body = SaphetyEnvelope),
        (status = 429, description = "`TooManyRequests` (see `Retry-After`)", body = SaphetyEnvelope),
        (status = 503, description = "`ServiceUnavailable`", body = SaphetyEnvelope)
    ))]
pub(super) fn gettoken(app: App) -> Endpoint {
    Endpoint::of::<__path_gettoken>(
        warp::path!("v2" / "auth" / "gettoken")
            .and(warp::post())
            .and(json_bytes())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(
                |body: Result<BytesMut, ApiError>, ip: IpAddr, app: App| async move {
                    match handle(body, ip, &app).await {
                        Ok(data) => saphety::success(&data),
                        Err(failure) => failure.reply(),
                    }
                },
            ),
    )
}

/// The edge for the use cases: each refusal in the Saphety envelope.
impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::BadCredentials => Failure::IdentificationDoesNotMatch,
            Refusal::PasswordTooLong { .. } => Failure::Field {
                field: "password",
                code: "TooLong",
            },
            Refusal::BadCode => Failure::MfaInvalid,
            Refusal::SecondFactorRequired => Failure::MfaRequired,
            Refusal::Limited { retry_after_secs } => Failure::TooManyRequests { retry_after_secs },
            other => Failure::from(ApiError::from(other)),
        }
    }
}

/// Body errors of the shared filter, and the rest of the envelope's catalogue, in the Saphety envelope.
impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::ServiceUnavailable(_) => {
                // Logged here, as the Saphety reply does not go through ApiError::to_response.
                tracing::error!(error = %e, "gettoken: store unavailable");
                Failure::ServiceUnavailable
            }
            ApiError::RateLimited { retry_after_secs } => Failure::TooManyRequests { retry_after_secs },
            ApiError::PayloadTooLarge => Failure::InvalidRequest {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                description: "The body is larger than 16 KiB.",
            },
            ApiError::BadRequest(_) => Failure::InvalidRequest {
                status: StatusCode::BAD_REQUEST,
                description: "The body must be JSON sent with Content-Type: application/json.",
            },
            other => {
                tracing::error!(error = %other, "gettoken failed");
                Failure::Internal
            }
        }
    }
}

/// gettoken's body as it arrives: every field optional and of any type, so that a missing or mistyped
/// one is answered with `Field` naming it. A duplicate key is refused like on every other endpoint.
#[derive(serde::Deserialize)]
struct RawRequest {
    username: Option<Value>,
    password: Option<Value>,
    virtual_operator: Option<Value>,
    otp: Option<Value>,
}

/// The request's field names, as `&'static str` for the Saphety error entry.
const FIELDS: [&str; 4] = ["username", "password", "virtual_operator", "otp"];

/// A required, non-empty string field.
fn required<'a>(value: &'a Option<Value>, field: &'static str) -> Result<&'a str, Failure> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(Failure::Field {
            field,
            code: "Required",
        }),
        Some(_) => Err(Failure::Field {
            field,
            code: "InvalidValue",
        }),
    }
}

fn parse(bytes: &[u8]) -> Result<RawRequest, Failure> {
    parse_json_fields::<RawRequest>(bytes).map_err(|e| match e {
        JsonError::NotJson => Failure::InvalidRequest {
            status: StatusCode::BAD_REQUEST,
            description: "The body is not valid JSON.",
        },
        JsonError::Duplicate(name) => match FIELDS.iter().find(|f| **f == name) {
            Some(field) => Failure::Field {
                field,
                code: "Duplicate",
            },
            None => Failure::InvalidRequest {
                status: StatusCode::BAD_REQUEST,
                description: "The body has a duplicate field.",
            },
        },
        JsonError::Missing(_) | JsonError::Invalid { .. } => Failure::InvalidRequest {
            status: StatusCode::BAD_REQUEST,
            description: "The body must be a JSON object.",
        },
    })
}

#[tracing::instrument(name = "gettoken", skip_all)]
async fn handle(body: Result<BytesMut, ApiError>, ip: IpAddr, app: &App) -> Result<TokenData, Failure> {
    let bytes = body?;
    let fields = parse(&bytes)?;
    let email = required(&fields.username, "username")?;
    let password = required(&fields.password, "password")?;
    let operator = required(&fields.virtual_operator, "virtual_operator")?;
    let otp = match &fields.otp {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(Failure::Field {
                field: "otp",
                code: "InvalidValue",
            })
        }
    };

    // Unknown e-mail, disabled user, wrong password, wrong operator: one hash, one answer, one failure.
    let operator = operator.trim();
    let belongs = |user: &User| user.virtual_operator.eq_ignore_ascii_case(operator);
    let proof = app
        .authenticator
        .sign_in_with_code(Identifier::Email(email), password, otp, ip, belongs)
        .await?;

    let user = &proof.user;
    let config = &app.config;
    let (token, exp) = app
        .sessions
        .start_access_only(user, config.common.jwt.saphety_ttl_secs, |access, user| {
            SaphetyClaims {
                given_name: user.username.as_str().to_string(),
                unique_name: user.email.as_str().to_string(),
                nameid: nameid(user.id),
                language: config.saphety_language.clone(),
                usertype: usertype(user.rol),
                virtualoperator: user.virtual_operator.clone(),
                access,
            }
        })
        .await?;
    Ok(TokenData {
        access_token: token,
        expires: expires(exp),
        token_type: "bearer",
        virtual_operator_alias: user.virtual_operator.clone(),
    })
}

//! `POST /v2/auth/gettoken`: the SOVOS-Saphety token endpoint. Every answer, errors included, is in the
//! Saphety envelope with the HTTP status equal to `ResultCode`.

use bytes::BytesMut;
use serde_json::{Map, Value};
use std::net::IpAddr;

use shared::http::{client_ip, json_bytes, with_state};
use shared::ApiError;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;
use crate::passwords::MAX_PASSWORD_CHARS;
use crate::saphety::{
    self, expires, nameid, usertype, Failure, GetTokenRequest, SaphetyClaims, SaphetyEnvelope, TokenData,
};

/// `POST /v2/auth/gettoken`
#[utoipa::path(post, path = "/v2/auth/gettoken", tag = "saphety", request_body = GetTokenRequest,
    responses(
        (status = 200, description = "`IsValid: true` and the token", body = SaphetyEnvelope),
        (status = 400, description = "`IdentificationDoesNotMatch`, a missing field (`Field` names it), `InvalidRequest`, `MfaRequired`, `MfaInvalid`", body = SaphetyEnvelope),
        (status = 413, description = "Body over 16 KiB", body = SaphetyEnvelope),
        (status = 429, description = "`TooManyRequests` (see `Retry-After`)", body = SaphetyEnvelope),
        (status = 503, description = "`ServiceUnavailable`", body = SaphetyEnvelope)
    ))]
pub fn gettoken(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
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
        )
}

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

/// A required, non-empty string field.
fn required<'a>(body: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, Failure> {
    match body.get(field) {
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

#[tracing::instrument(name = "gettoken", skip_all)]
async fn handle(body: Result<BytesMut, ApiError>, ip: IpAddr, app: &App) -> Result<TokenData, Failure> {
    let bytes = body?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| Failure::InvalidRequest {
        status: StatusCode::BAD_REQUEST,
        description: "The body is not valid JSON.",
    })?;
    let fields = value.as_object().ok_or(Failure::InvalidRequest {
        status: StatusCode::BAD_REQUEST,
        description: "The body must be a JSON object.",
    })?;
    let email = required(fields, "username")?;
    let password = required(fields, "password")?;
    let operator = required(fields, "virtual_operator")?;
    let otp = match fields.get("otp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(Failure::Field {
                field: "otp",
                code: "InvalidValue",
            })
        }
    };
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(Failure::Field {
            field: "password",
            code: "TooLong",
        });
    }

    // Unknown e-mail, disabled user, wrong password, wrong operator: one hash, one answer.
    let user = app.users.by_email(email);
    let subject = crate::limits::subject(email, user.as_deref());
    app.limits.attempt(ip, &subject).await?;
    let hash = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.as_str());
    let matched = app
        .passwords
        .verify(hash, password)
        .await
        .map_err(|e| Failure::from(ApiError::internal(e)))?;
    let user = match user {
        Some(u) if matched && u.active && u.virtual_operator.eq_ignore_ascii_case(operator.trim()) => u,
        _ => {
            tracing::info!("gettoken refused");
            return Err(Failure::IdentificationDoesNotMatch);
        }
    };

    if app.mfa.is_active(&user).await? {
        let Some(code) = otp else {
            return Err(Failure::MfaRequired);
        };
        if !app.mfa.check_code(&user, code).await? {
            return Err(Failure::MfaInvalid);
        }
    }

    app.limits.succeeded(ip, &subject).await?;
    let config = &app.config;
    let (token, exp) = app
        .sessions
        .start_access_only(&user, config.saphety_token_ttl_secs, |access| SaphetyClaims {
            given_name: user.username.as_str().to_string(),
            unique_name: user.email.as_str().to_string(),
            nameid: nameid(user.id),
            language: config.saphety_language.clone(),
            usertype: usertype(user.rol),
            virtualoperator: user.virtual_operator.clone(),
            access,
        })
        .await?;
    Ok(TokenData {
        access_token: token,
        expires: expires(exp),
        token_type: "bearer",
        virtual_operator_alias: user.virtual_operator.clone(),
    })
}

//! `GET /auth/mfa` (the user's second factors), `POST /auth/mfa/setup`, `/auth/mfa/activate`,
//! `/auth/mfa/verify` (with a code or a passkey) and `/auth/mfa/disable`. With `MFA_ENABLED=false`
//! setup and activate answer 404.

use std::sync::Arc;

use serde::Deserialize;
use shared::envelope::{self, Envelope, ErrorBody};
use std::net::IpAddr;

use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use super::reply::{session_reply, LoginDatos};
use crate::app::App;
use crate::mfa::{Enrolment, Mfa};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct CodeRequest {
    code: String,
}

/// The second step: `mfaToken` with a `code`, or with a `passkey` assertion.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyRequest {
    mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    code: Option<String>,
    /// A passkey's `AuthenticationResponseJSON`, answering the options of
    /// `POST /auth/passkeys/login/options` with this `mfaToken`.
    #[schema(value_type = Option<Object>)]
    passkey: Option<serde_json::Value>,
}

/// What activation returns, once.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `GET /auth/mfa`: the user's second factors.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecondFactors {
    /// Whether TOTP is on.
    pub totp: bool,
    /// How many passkeys the user holds.
    pub passkeys: usize,
    /// Whether new TOTP enrolments are allowed here (`MFA_ENABLED`).
    pub totp_enrolment: bool,
    /// Whether passkeys can be registered here (a relying party is configured).
    pub passkey_enrolment: bool,
}

/// New enrolments (setup, activate) need `MFA_ENABLED`; verify and disable always work for users who
/// enrolled, so turning the flag off never turns anyone's second factor off.
fn enrolment_allowed(app: &App) -> Result<Arc<Mfa>, ApiError> {
    if app.config.mfa_enabled {
        Ok(app.mfa.clone())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /auth/mfa`
#[utoipa::path(get, path = "/auth/mfa", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's second factors: TOTP on or off, how many passkeys, and what may be enrolled here", body = Envelope<SecondFactors>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn status(app: App) -> Endpoint {
    Endpoint::of::<__path_status>(
        warp::path!("auth" / "mfa")
            .and(warp::get())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let factors = SecondFactors {
                    totp: app.mfa.is_active(&auth.user).await?,
                    passkeys: app.passkeys.of_user(&auth.user).await?.len(),
                    totp_enrolment: app.config.mfa_enabled,
                    passkey_enrolment: app.passkeys.enabled(),
                };
                Ok::<_, ApiError>(envelope::ok("Segundos factores", factors))
            })
            .map(into_reply),
    )
}

/// `POST /auth/mfa/setup`
#[utoipa::path(post, path = "/auth/mfa/setup", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "A pending secret, its otpauth URL and QR code", body = Envelope<Enrolment>),
        shared::envelope::common::NoToken,
        (status = 404, description = "MFA is disabled on this deployment", body = ErrorBody),
        (status = 409, description = "Not allowed in the current MFA state", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn setup(app: App) -> Endpoint {
    Endpoint::of::<__path_setup>(
        warp::path!("auth" / "mfa" / "setup")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let enrolment = enrolment_allowed(&app)?.setup(&auth.user).await?;
                Ok::<_, ApiError>(envelope::ok("Configuración MFA iniciada", enrolment))
            })
            .map(into_reply),
    )
}

/// `POST /auth/mfa/activate`
#[utoipa::path(post, path = "/auth/mfa/activate", tag = "mfa", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 200, description = "MFA is on; the recovery codes, shown once", body = Envelope<RecoveryCodes>),
        shared::envelope::common::NotJson,
        shared::envelope::common::NoToken,
        (status = 404, description = "MFA is disabled on this deployment", body = ErrorBody),
        (status = 409, description = "Not allowed in the current MFA state", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "Wrong code (`MFA_INVALID`) or a bad field", body = ErrorBody),
        (status = 429, description = "Too many code attempts (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn activate(app: App) -> Endpoint {
    Endpoint::of::<__path_activate>(
        warp::path!("auth" / "mfa" / "activate")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(json_body::<CodeRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(
                |auth: Authenticated, body: CodeRequest, ip: IpAddr, app: App| async move {
                    let mfa = enrolment_allowed(&app)?;
                    let codes = app
                        .authenticator
                        .code_attempt(ip, &auth.user, mfa.activate(&auth.user, &body.code))
                        .await?;
                    Ok::<_, ApiError>(envelope::ok(
                        "MFA activado",
                        RecoveryCodes {
                            recovery_codes: codes,
                        },
                    ))
                },
            )
            .map(into_reply),
    )
}

/// `POST /auth/mfa/verify`: the second step of a login, with a code or a passkey.
#[utoipa::path(post, path = "/auth/mfa/verify", tag = "mfa", request_body = VerifyRequest,
    responses(
        (status = 200, description = "The same `datos` as a login", body = Envelope<LoginDatos>),
        shared::envelope::common::NotJson,
        (status = 401, description = "The challenge token is invalid or expired", body = ErrorBody),
        (status = 404, description = "MFA is disabled on this deployment", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "Wrong, reused or expired code, a passkey assertion refused, or the challenge's tries are spent (`MFA_INVALID`); neither or both of `code` and `passkey` (`VALIDATION_ERROR`)", body = ErrorBody),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn verify(app: App) -> Endpoint {
    Endpoint::of::<__path_verify>(
        warp::path!("auth" / "mfa" / "verify")
            .and(warp::post())
            .and(json_body::<VerifyRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(|body: VerifyRequest, ip: IpAddr, app: App| async move {
                let proven = match (&body.code, &body.passkey) {
                    (Some(code), None) => app.authenticator.second_step(&body.mfa_token, code, ip).await?,
                    (None, Some(passkey)) => {
                        let assertion =
                            serde_json::to_vec(passkey).map_err(|e| ApiError::Internal(Box::new(e)))?;
                        app.authenticator
                            .second_step_with_passkey(&body.mfa_token, &assertion, ip)
                            .await?
                    }
                    _ => {
                        return Err(ApiError::validation(
                            "code",
                            "Envíe 'code' (un código TOTP o de recuperación) o 'passkey', uno de los dos (one_second_factor).",
                        ))
                    }
                };
                session_reply(&app, &proven).await
            })
            .map(into_reply),
    )
}

/// `POST /auth/mfa/disable`
#[utoipa::path(post, path = "/auth/mfa/disable", tag = "mfa", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 200, description = "MFA is off; `datos` is null", body = Envelope<Option<String>>),
        shared::envelope::common::NotJson,
        shared::envelope::common::NoToken,
        (status = 404, description = "MFA is disabled on this deployment", body = ErrorBody),
        (status = 409, description = "Not allowed in the current MFA state", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "Wrong code (`MFA_INVALID`) or a bad field", body = ErrorBody),
        (status = 429, description = "Too many code attempts (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn disable(app: App) -> Endpoint {
    Endpoint::of::<__path_disable>(
        warp::path!("auth" / "mfa" / "disable")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(json_body::<CodeRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(
                |auth: Authenticated, body: CodeRequest, ip: IpAddr, app: App| async move {
                    app.authenticator
                        .code_attempt(ip, &auth.user, app.mfa.disable(&auth.user, &body.code))
                        .await?;
                    Ok::<_, ApiError>(envelope::ok("MFA desactivado", serde_json::Value::Null))
                },
            )
            .map(into_reply),
    )
}

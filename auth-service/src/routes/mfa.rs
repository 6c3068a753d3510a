//! `POST /auth/mfa/setup`, `/auth/mfa/activate`, `/auth/mfa/verify` and `/auth/mfa/disable`.
//! With `MFA_ENABLED=false` they answer 404.

use std::sync::Arc;

use serde::Deserialize;
use shared::envelope;
use std::net::IpAddr;

use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::ApiError;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{authenticated, Authenticated};
use crate::app::App;
use crate::mfa::Mfa;

#[derive(Deserialize)]
pub struct CodeRequest {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    mfa_token: String,
    code: String,
}

fn enabled(app: &App) -> Result<Arc<Mfa>, ApiError> {
    app.mfa.clone().ok_or(ApiError::NotFound)
}

/// `POST /auth/mfa/setup`
pub fn setup(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "mfa" / "setup")
        .and(warp::post())
        .and(authenticated(app.clone()))
        .and(with_state(app))
        .then(|auth: Authenticated, app: App| async move {
            let enrolment = enabled(&app)?.setup(&auth.user).await?;
            Ok::<_, ApiError>(envelope::ok("Configuración MFA iniciada", enrolment))
        })
        .map(into_reply)
}

/// `POST /auth/mfa/activate`
pub fn activate(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "mfa" / "activate")
        .and(warp::post())
        .and(authenticated(app.clone()))
        .and(json_body::<CodeRequest>())
        .and(with_state(app))
        .then(|auth: Authenticated, body: CodeRequest, app: App| async move {
            let codes = enabled(&app)?.activate(&auth.user, &body.code).await?;
            Ok::<_, ApiError>(envelope::ok(
                "MFA activado",
                serde_json::json!({ "recoveryCodes": codes }),
            ))
        })
        .map(into_reply)
}

/// `POST /auth/mfa/verify`: the second step of a login.
pub fn verify(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "mfa" / "verify")
        .and(warp::post())
        .and(json_body::<VerifyRequest>())
        .and(client_ip(app.config.trusted_proxies.clone()))
        .and(with_state(app))
        .then(|body: VerifyRequest, ip: IpAddr, app: App| async move {
            let user = enabled(&app)?
                .verify(&body.mfa_token, &body.code, ip, &app.limits)
                .await?;
            super::login::session_reply(&app, &user).await
        })
        .map(into_reply)
}

/// `POST /auth/mfa/disable`
pub fn disable(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "mfa" / "disable")
        .and(warp::post())
        .and(authenticated(app.clone()))
        .and(json_body::<CodeRequest>())
        .and(with_state(app))
        .then(|auth: Authenticated, body: CodeRequest, app: App| async move {
            enabled(&app)?.disable(&auth.user, &body.code).await?;
            Ok::<_, ApiError>(envelope::ok("MFA desactivado", serde_json::Value::Null))
        })
        .map(into_reply)
}

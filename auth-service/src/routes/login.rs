//! `POST /auth/login`: username and password for a token pair.

use serde::Deserialize;
use std::net::IpAddr;

use shared::envelope::{Envelope, ErrorBody};
use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::metrics::metrics;
use shared::routing::Endpoint;
use shared::ApiError;
use warp::reply::Response;
use warp::Filter;

use super::reply::{session_reply, token_reply, LoginOutcome};
use crate::app::App;
use crate::authenticate::{Identifier, SignIn};

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct LoginRequest {
    username: String,
    #[schema(schema_with = crate::schemas::password_schema)]
    password: String,
}

/// `POST /auth/login`
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens, or an MFA challenge for a user with MFA on", body = Envelope<LoginOutcome>),
        shared::envelope::common::NotJson,
        shared::envelope::common::TooLarge,
        (status = 422, description = "Wrong user or password (`INVALID_CREDENTIALS`), or a bad field (`VALIDATION_ERROR`)", body = ErrorBody),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn login(app: App) -> Endpoint {
    Endpoint::of::<__path_login>(
        warp::path!("auth" / "login")
            .and(warp::post())
            .and(json_body::<LoginRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(handle)
            .map(|result: Result<Response, ApiError>| {
                if let Err(e) = &result {
                    let outcome = match e {
                        ApiError::InvalidCredentials => "invalid_credentials",
                        ApiError::RateLimited { .. } => "rate_limited",
                        ApiError::Validation { .. } => "invalid_request",
                        _ => "error",
                    };
                    metrics().logins.with_label_values(&[outcome]).inc();
                }
                into_reply(result)
            }),
    )
}

/// Unknown user, disabled user, empty or wrong password: one argon2 verification and the same
/// 422 INVALID_CREDENTIALS for all of them ([`crate::authenticate`]).
#[tracing::instrument(name = "login", skip_all)]
async fn handle(body: LoginRequest, ip: IpAddr, app: App) -> Result<Response, ApiError> {
    let signed_in = app
        .authenticator
        .sign_in(Identifier::Username(&body.username), &body.password, ip, |_| true)
        .await?;
    match signed_in {
        SignIn::Challenge(challenge) => {
            metrics().logins.with_label_values(&["mfa_required"]).inc();
            token_reply("Se requiere verificación MFA", LoginOutcome::Mfa(challenge))
        }
        SignIn::Proven(proven) => {
            metrics().logins.with_label_values(&["success"]).inc();
            session_reply(&app, &proven).await
        }
    }
}

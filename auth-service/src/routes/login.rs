//! `POST /auth/login`: username and password for a token pair.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use shared::envelope::{Envelope, ErrorBody};
use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::metrics::metrics;
use shared::routing::Endpoint;
use shared::ApiError;
use warp::reply::Response;
use warp::Filter;

use crate::app::App;
use crate::authenticate::Identifier;
use crate::sessions::TokenPair;
use crate::users::PublicUser;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    username: String,
    #[schema(schema_with = crate::schemas::password_schema)]
    password: String,
}

/// `POST /auth/login`
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens, or an MFA challenge for a user with MFA on", body = Envelope<LoginOutcome>),
        (status = 400, description = "Not JSON, or not `Content-Type: application/json`", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 422, description = "Wrong user or password (`INVALID_CREDENTIALS`), or a bad field (`VALIDATION_ERROR`)", body = ErrorBody),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorBody),
        (status = 503, description = "The store does not answer", body = ErrorBody)
    ))]
pub fn login(app: App) -> Endpoint {
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
    let proof = app
        .authenticator
        .password(Identifier::Username(&body.username), &body.password, ip, |_| true)
        .await?;
    if app.authenticator.needs_second_factor(&proof.user).await? {
        metrics().logins.with_label_values(&["mfa_required"]).inc();
        return super::token_reply(
            "Se requiere verificación MFA",
            LoginOutcome::Mfa(app.mfa.challenge(&proof.user).await.map_err(ApiError::from)?),
        );
    }
    metrics().logins.with_label_values(&["success"]).inc();
    session_reply(&app, &proof.user, None).await
}

/// Starts a session and answers with the seed's login `datos`; the end of a login and of an MFA verify
/// (whose challenge saw the user's cut-off `cutoff_seen`, see [`crate::sessions::Sessions::start`]).
pub(super) async fn session_reply(
    app: &App,
    user: &crate::users::User,
    cutoff_seen: Option<i64>,
) -> Result<Response, ApiError> {
    let (pair, user) = app.sessions.start(user, cutoff_seen).await?;
    super::token_reply(
        "Autenticación exitosa",
        LoginOutcome::Tokens(LoginDatos {
            pair,
            user: user.public(),
        }),
    )
}

/// What a correct password gets: tokens, or (MFA on) a challenge. For the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginOutcome<'a> {
    Tokens(LoginDatos<'a>),
    Mfa(crate::mfa::Challenge),
}

/// The seed's login `datos`: the pair's fields, then `user`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginDatos<'a> {
    #[serde(flatten)]
    pub pair: TokenPair,
    pub user: PublicUser<'a>,
}

//! The answers that carry tokens, shared by the routes that issue them. Beside the route files, below
//! them: they import from here, never from `routes/mod.rs` or from each other.

use serde::Serialize;
use shared::ApiError;
use warp::reply::Response;

use crate::app::App;
use crate::authenticate::Proven;
use crate::mfa::Challenge;
use crate::sessions::TokenPair;
use crate::users::PublicUser;

/// A successful reply that carries tokens.
pub(super) fn token_reply<T: Serialize>(mensaje: &str, datos: T) -> Result<Response, ApiError> {
    Ok(shared::envelope::ok(mensaje, datos))
}

/// Starts a session for a proven sign-in and answers with the seed's login `datos`: the end of a
/// login, and of an MFA verify (whose session is bound to the cut-off its challenge saw, see
/// [`crate::sessions::Sessions::start`]).
pub(super) async fn session_reply(app: &App, proven: &Proven) -> Result<Response, ApiError> {
    let (pair, user) = app.sessions.start(&proven.user, proven.cutoff_seen).await?;
    token_reply(
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
pub(super) enum LoginOutcome<'a> {
    Tokens(LoginDatos<'a>),
    Mfa(Challenge),
}

/// The seed's login `datos`: the pair's fields, then `user`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct LoginDatos<'a> {
    #[serde(flatten)]
    pub pair: TokenPair,
    pub user: PublicUser<'a>,
}

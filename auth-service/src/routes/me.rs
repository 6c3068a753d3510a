//! `GET /auth/me`: the user behind a live access token.

use shared::envelope;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{authenticated, Authenticated};
use crate::app::App;

/// `GET /auth/me`
pub fn me(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "me")
        .and(warp::get())
        .and(authenticated(app))
        .map(|auth: Authenticated| envelope::ok("Usuario autenticado", auth.user.public()))
}

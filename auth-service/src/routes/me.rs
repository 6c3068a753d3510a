//! `GET /auth/me`: the user behind a live access token.

use shared::envelope::{self, Envelope};

use crate::users::PublicUser;
use shared::routing::Endpoint;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use crate::app::App;

/// `GET /auth/me`
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user behind a live access token", body = Envelope<PublicUser>),
        shared::envelope::common::NoToken,
        shared::envelope::common::StoreDown
    ))]
pub(super) fn me(app: App) -> Endpoint {
    Endpoint::of::<__path_me>(
        warp::path!("auth" / "me")
            .and(warp::get())
            .and(authenticated(app))
            .map(|auth: Authenticated| envelope::ok("Usuario autenticado", auth.user.public())),
    )
}

//! `POST /auth/logout` (this session) and `POST /auth/logout-all` (every session of the user).

use shared::envelope::{self, Envelope};
use shared::http::{into_reply, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use crate::app::App;

/// `POST /auth/logout`
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "This session is revoked; `datos` is null", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        shared::envelope::common::StoreDown
    ))]
pub(super) fn logout(app: App) -> Endpoint {
    Endpoint::of::<__path_logout>(
        warp::path!("auth" / "logout")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                app.sessions.logout(&auth.claims).await?;
                Ok::<_, ApiError>(envelope::ok("Sesión cerrada", serde_json::Value::Null))
            })
            .map(into_reply),
    )
}

/// `POST /auth/logout-all`
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every session of the user is revoked; `datos` is null", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        shared::envelope::common::StoreDown
    ))]
pub(super) fn logout_all(app: App) -> Endpoint {
    Endpoint::of::<__path_logout_all>(
        warp::path!("auth" / "logout-all")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                app.sessions.logout_all(&auth.claims).await?;
                Ok::<_, ApiError>(envelope::ok(
                    "Todas las sesiones cerradas",
                    serde_json::Value::Null,
                ))
            })
            .map(into_reply),
    )
}

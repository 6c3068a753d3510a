//! What a user has signed in to through the hosted login page, for `/cuenta`: the apps they let in
//! (consents, `GET|DELETE /auth/apps`) and their signed-in browsers (`GET|DELETE /auth/browsers`).
//! Withdrawing an app's access forgets the consent and ends every session the app holds of the user;
//! ending a browser session signs that browser out as `/oauth2/logout` does: its single sign-on and
//! the sessions it gave apps end (apps with a back-channel logout URI are told).

use serde::Serialize;
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::with_state;
use shared::routing::Endpoint;
use shared::ApiError;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use crate::app::App;

/// An app the user let in.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectedApp {
    client_id: String,
    client_name: String,
    /// The scopes granted, space-separated.
    scope: String,
}

/// A signed-in browser.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignedInBrowser {
    /// Names it in `DELETE /auth/browsers/{browser_id}`.
    id: String,
    /// When the user signed in there (Unix seconds).
    auth_time: i64,
    /// How (RFC 8176: `pwd`, and `otp` and `mfa` after a second factor).
    amr: Vec<String>,
}

/// `GET /auth/apps`
#[utoipa::path(get, path = "/auth/apps", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The third-party apps the user consented to, with the scopes granted", body = Envelope<Vec<ConnectedApp>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client (the account API takes this service's own sign-in)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn apps(app: App) -> Endpoint {
    Endpoint::of::<__path_apps>(
        warp::path!("auth" / "apps")
            .and(warp::get())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let consents = app.provider.consents(&auth.claims.sub).await?;
                let apps: Vec<ConnectedApp> = consents
                    .into_iter()
                    .map(|(client, scope)| ConnectedApp {
                        client_id: client.client_id,
                        client_name: client.client_name,
                        scope,
                    })
                    .collect();
                Ok::<_, ApiError>(envelope::ok("Aplicaciones con acceso", apps))
            })
            .map(shared::http::into_reply),
    )
}

/// `DELETE /auth/apps/{client_id}`
#[utoipa::path(delete, path = "/auth/apps/{client_id}", tag = "auth", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app")),
    responses(
        (status = 200, description = "Its access withdrawn: the consent forgotten (the next sign-in asks again) and its sessions of the user ended", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "The user had not let this app in", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn withdraw(app: App) -> Endpoint {
    Endpoint::of::<__path_withdraw>(
        warp::path!("auth" / "apps" / String)
            .and(warp::delete())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|client_id: String, auth: Authenticated, app: App| async move {
                if !app.provider.withdraw(&auth.claims.sub, &client_id).await? {
                    return Err(ApiError::NotFound);
                }
                crate::audit::record(
                    "consent_withdrawn",
                    crate::audit::Actor::User(auth.user.id),
                    &auth.claims.sub,
                    &client_id,
                );
                Ok(envelope::ok("Acceso retirado", None::<String>))
            })
            .map(shared::http::into_reply),
    )
}

/// `GET /auth/browsers`
#[utoipa::path(get, path = "/auth/browsers", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The browsers signed in on the hosted login page, newest first", body = Envelope<Vec<SignedInBrowser>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn browsers(app: App) -> Endpoint {
    Endpoint::of::<__path_browsers>(
        warp::path!("auth" / "browsers")
            .and(warp::get())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let found = app.browsers.of_user(&auth.claims.sub).await?;
                let list: Vec<SignedInBrowser> = found
                    .into_iter()
                    .map(|(id, b)| SignedInBrowser {
                        id,
                        auth_time: b.auth_time,
                        amr: b.amr,
                    })
                    .collect();
                Ok::<_, ApiError>(envelope::ok("Navegadores con sesión", list))
            })
            .map(shared::http::into_reply),
    )
}

/// `DELETE /auth/browsers/{browser_id}`
#[utoipa::path(delete, path = "/auth/browsers/{browser_id}", tag = "auth", security(("bearer" = [])),
    params(("browser_id" = String, Path, description = "An `id` of `GET /auth/browsers`")),
    responses(
        (status = 200, description = "The browser's session ended (and what it signed in through the hosted page)", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "No such browser session of this user", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn end_browser(app: App) -> Endpoint {
    Endpoint::of::<__path_end_browser>(
        warp::path!("auth" / "browsers" / String)
            .and(warp::delete())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|id: String, auth: Authenticated, app: App| async move {
                let ended = if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    app.browsers.end_by_id(&auth.claims.sub, &id).await?
                } else {
                    None
                };
                let Some(browser) = ended else {
                    return Err(ApiError::NotFound);
                };
                app.provider.end_descendants(&browser).await?;
                Ok(envelope::ok("Sesión del navegador cerrada", None::<String>))
            })
            .map(shared::http::into_reply),
    )
}

//! `POST /auth/password` (a user changes their own password) and `POST /auth/password/set` (a new
//! password with a one-time set-password token from an admin).

use std::net::IpAddr;

use serde::Deserialize;
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::reply::Response;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use super::reply::token_reply;
use crate::accounts::check_new_password;
use crate::app::App;
use crate::authenticate::Identifier;
use crate::sessions::TokenPair;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChangePassword {
    #[schema(schema_with = crate::schemas::password_schema)]
    current_password: String,
    /// Held to the password policy (at least 12 characters, not a common password).
    #[schema(schema_with = crate::schemas::new_password_schema)]
    new_password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SetPassword {
    /// The one-time token an admin received for this user.
    token: String,
    #[schema(schema_with = crate::schemas::new_password_schema)]
    new_password: String,
}

/// `POST /auth/password`
#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])), request_body = ChangePassword,
    responses(
        (status = 200, description = "Changed: a fresh pair for this client; every other session of the user ended", body = Envelope<TokenPair>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 422, description = "Wrong current password (`INVALID_CREDENTIALS`), or a new password that breaks the policy (`VALIDATION_ERROR` naming the rule)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for the account, as at login (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn change(app: App) -> Endpoint {
    Endpoint::of::<__path_change>(
        warp::path!("auth" / "password")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(json_body::<ChangePassword>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(handle_change)
            .map(into_reply),
    )
}

/// The current password goes through the login's password step (the same lock, limits and timing);
/// the new one is checked against the policy first, so a weak one costs no hash.
async fn handle_change(
    auth: Authenticated,
    body: ChangePassword,
    ip: IpAddr,
    app: App,
) -> Result<Response, ApiError> {
    check_new_password("newPassword", &body.new_password)?;
    let me = auth.user.id;
    app.authenticator
        .password(
            Identifier::Username(auth.user.username.as_str()),
            &body.current_password,
            ip,
            |user| user.id == me,
        )
        .await?;
    let user = app.accounts.change_own_password(me, &body.new_password).await?;
    let (pair, _) = app.sessions.start(&user, None).await?;
    token_reply("Contraseña actualizada", pair)
}

/// `POST /auth/password/set`
#[utoipa::path(post, path = "/auth/password/set", tag = "auth", request_body = SetPassword,
    responses(
        (status = 200, description = "The password is set; log in with it. `datos` is null", body = Envelope<Option<String>>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Unknown, used, replaced or expired token (`token`), or a new password that breaks the policy (the rule is named)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn set(app: App) -> Endpoint {
    Endpoint::of::<__path_set>(
        warp::path!("auth" / "password" / "set")
            .and(warp::post())
            .and(json_body::<SetPassword>())
            .and(with_state(app))
            .then(|body: SetPassword, app: App| async move {
                app.accounts.redeem_reset(&body.token, &body.new_password).await?;
                Ok::<_, ApiError>(envelope::ok("Contraseña establecida", serde_json::Value::Null))
            })
            .map(into_reply),
    )
}

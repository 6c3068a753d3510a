//! Passkeys (WebAuthn): `POST /auth/passkeys/register/options` and `/auth/passkeys/register`,
//! `GET /auth/passkeys`, `PATCH|DELETE /auth/passkeys/{passkey_id}` (Bearer), and the sign-in:
//! `POST /auth/passkeys/login/options` and `/auth/passkeys/login` (the second step's assertion goes to
//! `POST /auth/mfa/verify`, in `mfa.rs`). Options answer `datos: {"publicKey": …}` in the WebAuthn
//! JSON forms; the finishing calls take the browser's `credential.toJSON()` as `credential`. Off
//! (404) when no relying party is configured ([`crate::config`], `WEBAUTHN_RP_ID`).

use std::net::IpAddr;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::{client_ip, into_reply, json_body, parse_json, raw_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::http::HeaderValue;
use warp::Filter;

use super::access::{authenticated, Authenticated};
use super::reply::{session_reply, LoginDatos};
use crate::app::App;
use crate::authenticate::Identifier;
use crate::passkeys::{passkey_name, Ask, PasskeyInfo};
use crate::refusal::Refusal;

/// `datos` of the options calls: what `PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON` take.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CeremonyOptions {
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`.
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

/// `POST /auth/passkeys/register`
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PasskeyRegisterRequest {
    /// The browser's `RegistrationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// What to call it (blank or absent: "Llave de acceso"); at most 64 characters, no control
    /// characters.
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    name: Option<String>,
}

/// `PATCH /auth/passkeys/{passkey_id}`
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PasskeyRenameRequest {
    /// At most 64 characters, no control characters (blank: "Llave de acceso").
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    name: String,
}

/// `DELETE /auth/passkeys/{passkey_id}`'s optional body.
#[derive(Deserialize)]
pub(super) struct PasskeyRemoveRequest {
    /// Required when this is the account's last second factor.
    password: Option<String>,
}

/// `POST /auth/passkeys/login/options`: `{}` (any passkey the browser holds), `{"username"}`, or
/// `{"mfaToken"}` (the second step of a login).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PasskeyLoginOptionsRequest {
    username: Option<String>,
    mfa_token: Option<String>,
}

/// `POST /auth/passkeys/login`
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PasskeyLoginRequest {
    /// The browser's `AuthenticationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

fn bytes_of(value: &serde_json::Value) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(Box::new(e)))
}

fn options_reply(public_key: serde_json::Value) -> warp::reply::Response {
    envelope::ok("Opciones de llave de acceso", CeremonyOptions { public_key })
}

/// `POST /auth/passkeys/register/options`
#[utoipa::path(post, path = "/auth/passkeys/register/options", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "`publicKey`: the PublicKeyCredentialCreationOptionsJSON of a new ceremony (five minutes, single use)", body = Envelope<CeremonyOptions>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "Passkeys are off on this deployment", body = ErrorBody),
        (status = 409, description = "The user holds the most passkeys allowed (10)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn register_options(app: App) -> Endpoint {
    Endpoint::of::<__path_register_options>(
        warp::path!("auth" / "passkeys" / "register" / "options")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let options = app.passkeys.register_options(&auth.user).await?;
                Ok::<_, ApiError>(options_reply(options))
            })
            .map(into_reply),
    )
}

/// `POST /auth/passkeys/register`
#[utoipa::path(post, path = "/auth/passkeys/register", tag = "passkeys", security(("bearer" = [])), request_body = PasskeyRegisterRequest,
    responses(
        (status = 201, description = "The passkey, kept; from now on the user's logins ask for a second factor", body = Envelope<PasskeyInfo>),
        shared::envelope::common::NotJson,
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "Passkeys are off on this deployment", body = ErrorBody),
        (status = 409, description = "That credential is registered already, or the user holds the most passkeys allowed", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "An unreadable credential, a ceremony unknown, expired or used, a check that failed, or a bad name", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn register(app: App) -> Endpoint {
    Endpoint::of::<__path_register>(
        warp::path!("auth" / "passkeys" / "register")
            .and(warp::post())
            .and(authenticated(app.clone()))
            .and(json_body::<PasskeyRegisterRequest>())
            .and(with_state(app))
            .then(
                |auth: Authenticated, body: PasskeyRegisterRequest, app: App| async move {
                    let name = passkey_name(body.name.as_deref())?;
                    let info = app
                        .passkeys
                        .register(&auth.user, &bytes_of(&body.credential)?, &name)
                        .await?;
                    let mut reply = envelope::ok("Llave de acceso registrada", info);
                    *reply.status_mut() = warp::http::StatusCode::CREATED;
                    Ok::<_, ApiError>(reply)
                },
            )
            .map(into_reply),
    )
}

/// `GET /auth/passkeys`
#[utoipa::path(get, path = "/auth/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's passkeys, oldest first (none when passkeys are off)", body = Envelope<Vec<PasskeyInfo>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn list(app: App) -> Endpoint {
    Endpoint::of::<__path_list>(
        warp::path!("auth" / "passkeys")
            .and(warp::get())
            .and(authenticated(app.clone()))
            .and(with_state(app))
            .then(|auth: Authenticated, app: App| async move {
                let all: Vec<PasskeyInfo> = app
                    .passkeys
                    .of_user(&auth.user)
                    .await?
                    .iter()
                    .map(PasskeyInfo::from)
                    .collect();
                Ok::<_, ApiError>(envelope::ok("Llaves de acceso", all))
            })
            .map(into_reply),
    )
}

/// `PATCH /auth/passkeys/{passkey_id}`
#[utoipa::path(patch, path = "/auth/passkeys/{passkey_id}", tag = "passkeys", security(("bearer" = [])), request_body = PasskeyRenameRequest,
    params(("passkey_id" = String, Path, description = "The passkey's id (its credential id, base64url)")),
    responses(
        (status = 200, description = "Renamed", body = Envelope<PasskeyInfo>),
        shared::envelope::common::NotJson,
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "No passkey of this user with that id", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "A bad name", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn rename(app: App) -> Endpoint {
    Endpoint::of::<__path_rename>(
        warp::path!("auth" / "passkeys" / String)
            .and(warp::patch())
            .and(authenticated(app.clone()))
            .and(json_body::<PasskeyRenameRequest>())
            .and(with_state(app))
            .then(
                |id: String, auth: Authenticated, body: PasskeyRenameRequest, app: App| async move {
                    let name = passkey_name(Some(&body.name))?;
                    let info = app.passkeys.rename(&auth.user, &id, &name).await?;
                    Ok::<_, ApiError>(envelope::ok("Llave de acceso renombrada", info))
                },
            )
            .map(into_reply),
    )
}

/// The optional JSON body of a `DELETE`: none, or `{"password"}`.
fn removal(kind: Option<HeaderValue>, body: Result<BytesMut, ApiError>) -> Result<Option<String>, ApiError> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json = kind.as_ref().and_then(|k| k.to_str().ok()).is_some_and(|k| {
        k.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !json {
        return Err(ApiError::BadRequest(
            "Un cuerpo en DELETE /auth/passkeys/{passkey_id} debe ser JSON (Content-Type: application/json)."
                .into(),
        ));
    }
    Ok(parse_json::<PasskeyRemoveRequest>(&body)?.password)
}

/// `DELETE /auth/passkeys/{passkey_id}`. No body, or `{"password"}` (JSON): the password is required when this
/// passkey is the account's last second factor.
#[utoipa::path(delete, path = "/auth/passkeys/{passkey_id}", tag = "passkeys", security(("bearer" = [])),
    params(("passkey_id" = String, Path, description = "The passkey's id")),
    responses(
        (status = 200, description = "Removed; it no longer signs in", body = Envelope<Option<String>>),
        (status = 400, description = "A body that is not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "A token issued to an OAuth client", body = ErrorBody),
        (status = 404, description = "No passkey of this user with that id", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "The last second factor without the password (`password`), or a wrong password (`INVALID_CREDENTIALS`)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn remove(app: App) -> Endpoint {
    Endpoint::of::<__path_remove>(
        warp::path!("auth" / "passkeys" / String)
            .and(warp::delete())
            .and(authenticated(app.clone()))
            .and(raw_body())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(
                |id: String,
                 auth: Authenticated,
                 kind: Option<HeaderValue>,
                 body: Result<BytesMut, ApiError>,
                 ip: IpAddr,
                 app: App| async move {
                    let password = removal(kind, body)?;
                    let user = &auth.user;
                    // With TOTP on, no passkey is the last second factor. Without it, the last
                    // passkey goes only with the password, and "last" is decided by the store in
                    // the same step as the removal: two removals at once cannot each leave the
                    // other's passkey as the one that stays.
                    let keep_last = !app.mfa.is_active(user).await?;
                    if !app.passkeys.remove(user, &id, keep_last).await? {
                        let password = password.ok_or(Refusal::PasswordRequired)?;
                        app.authenticator
                            .password(Identifier::Username(user.username.as_str()), &password, ip, |u| {
                                u.id == user.id
                            })
                            .await?;
                        app.passkeys.remove(user, &id, false).await?;
                    }
                    Ok(envelope::ok("Llave de acceso eliminada", None::<String>))
                },
            )
            .map(into_reply),
    )
}

/// `POST /auth/passkeys/login/options`
#[utoipa::path(post, path = "/auth/passkeys/login/options", tag = "passkeys", request_body = PasskeyLoginOptionsRequest,
    responses(
        (status = 200, description = "`publicKey`: the PublicKeyCredentialRequestOptionsJSON of a new ceremony. `{}`: any passkey the browser holds; `{\"username\"}`: that user's (the same shape whether or not the user exists); `{\"mfaToken\"}`: the second step of that login", body = Envelope<CeremonyOptions>),
        shared::envelope::common::NotJson,
        (status = 401, description = "The `mfaToken` is invalid or expired", body = ErrorBody),
        (status = 404, description = "Passkeys are off on this deployment", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "Both `username` and `mfaToken`, or a second step for a user without passkeys (`MFA_INVALID`)", body = ErrorBody),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn login_options(app: App) -> Endpoint {
    Endpoint::of::<__path_login_options>(
        warp::path!("auth" / "passkeys" / "login" / "options")
            .and(warp::post())
            .and(json_body::<PasskeyLoginOptionsRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(
                |body: PasskeyLoginOptionsRequest, ip: IpAddr, app: App| async move {
                    if !app.passkeys.enabled() {
                        return Err(ApiError::NotFound);
                    }
                    // Each ceremony is a record in the store: counted against the IP like a login.
                    app.limits.admit_ip(ip).await?;
                    let options = match (body.username.as_deref(), body.mfa_token.as_deref()) {
                        (None, None) => app.passkeys.login_options(Ask::Anyone).await?,
                        (Some(name), None) => app.passkeys.login_options(Ask::Named(name)).await?,
                        (None, Some(token)) => app.authenticator.second_step_options(token).await?,
                        (Some(_), Some(_)) => {
                            return Err(ApiError::validation(
                                "mfaToken",
                                "Envíe 'username' o 'mfaToken', no ambos (username_or_mfa_token).",
                            ))
                        }
                    };
                    Ok::<_, ApiError>(options_reply(options))
                },
            )
            .map(into_reply),
    )
}

/// `POST /auth/passkeys/login`
#[utoipa::path(post, path = "/auth/passkeys/login", tag = "passkeys", request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "The same `datos` as a login: a passkey with user verification is the whole sign-in", body = Envelope<LoginDatos>),
        shared::envelope::common::NotJson,
        (status = 404, description = "Passkeys are off on this deployment", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "Anything wrong (an unknown passkey, a ceremony expired or used, a bad signature, no user verification, a counter gone backwards, a disabled user): `INVALID_CREDENTIALS`", body = ErrorBody),
        (status = 429, description = "Rate limited, or the account locked (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn login(app: App) -> Endpoint {
    Endpoint::of::<__path_login>(
        warp::path!("auth" / "passkeys" / "login")
            .and(warp::post())
            .and(json_body::<PasskeyLoginRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(|body: PasskeyLoginRequest, ip: IpAddr, app: App| async move {
                let proven = match app
                    .authenticator
                    .passkey_sign_in(&bytes_of(&body.credential)?, ip)
                    .await
                {
                    Ok(proven) => proven,
                    Err(e) => {
                        let outcome = match &e {
                            Refusal::BadCredentials => Some("invalid_credentials"),
                            Refusal::Limited { .. } => Some("rate_limited"),
                            _ => None,
                        };
                        if let Some(outcome) = outcome {
                            shared::metrics::metrics()
                                .logins
                                .with_label_values(&[outcome])
                                .inc();
                        }
                        return Err(e.into());
                    }
                };
                shared::metrics::metrics()
                    .logins
                    .with_label_values(&["success"])
                    .inc();
                session_reply(&app, &proven).await
            })
            .map(into_reply),
    )
}

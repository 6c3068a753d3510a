//! The HTTP surface: one function per endpoint, each listed once in the [`shared::endpoints!`] list
//! below, from which the OpenAPI document ([`ApiDoc`]), the route table ([`table`]) and the
//! [`router`] come (see [`shared::routing`]).
//!
//! Each endpoint matches its path and method first, then extracts its body or token, then runs a
//! handler that returns `Result<Response, ApiError>`, turned into a reply by
//! [`shared::http::into_reply`]. Only "no route matched" and extraction failures reach
//! [`shared::rejection::recover`].

mod access;
mod admin;
mod admin_clients;
mod authorize;
mod connected;
mod cuenta;
mod introspect;
mod jwks;
mod login;
mod logout;
mod me;
mod mfa;
mod oauth;
mod openapi;
mod pages;
mod passkeys;
mod password;
mod refresh;
mod refusal;
mod reply;
mod saphety;
mod userinfo;

pub use cuenta::CONTENT_SECURITY_POLICY;
pub use refusal::detalle;

use openapi::IntrospectionClientAuth;
use shared::ops::BearerAuth;
use shared::routing::Router;

use crate::app::App;

shared::endpoints! {
    doc ApiDoc(
        info(
            title = "auth-service",
            description = "Login, refresh rotation, revocation, TOTP MFA and the Saphety-compatible token endpoint. \
                           Every `/auth/*` response is the `{exito, mensaje, datos}` / `{exito, mensaje, detalle, codigo}` envelope."
        ),
        modifiers(&BearerAuth, &IntrospectionClientAuth),
        tags(
            (name = "auth", description = "Tokens and sessions"),
            (name = "mfa", description = "TOTP second factor"),
            (name = "passkeys", description = "Passkeys (WebAuthn): registered from a session, used as the second factor or alone"),
            (name = "saphety", description = "SOVOS-Saphety compatible endpoint"),
            (name = "admin", description = "Users and OAuth 2.0 clients managed live (Bearer token of an admin)"),
            (name = "cuenta", description = "The self-service account page: HTML, JavaScript and CSS (not the envelope), built on the endpoints above"),
            (name = "ops", description = "Health and readiness"),
            (name = "keys", description = "The public keys of asymmetric tokens"),
            (name = "oauth2", description = "OAuth 2.0 (RFC 6749 formats, not the envelope); on when JWT_ISSUER is a URL"),
        )
    );
    fn endpoints(app: &App);
    shared::ops::health[],
    shared::ops::ready[app.store.kind(), ready_probe(app)],
    shared::ops::metrics[],
    shared::ops::openapi[<ApiDoc as utoipa::OpenApi>::openapi()],
    login::login[app.clone()],
    refresh::refresh[app.clone()],
    logout::logout[app.clone()],
    logout::logout_all[app.clone()],
    me::me[app.clone()],
    introspect::introspect[app.clone()],
    mfa::status[app.clone()],
    mfa::setup[app.clone()],
    mfa::activate[app.clone()],
    mfa::verify[app.clone()],
    mfa::disable[app.clone()],
    passkeys::register_options[app.clone()],
    passkeys::register[app.clone()],
    passkeys::list[app.clone()],
    passkeys::rename[app.clone()],
    passkeys::remove[app.clone()],
    passkeys::login_options[app.clone()],
    passkeys::login[app.clone()],
    saphety::gettoken[app.clone()],
    password::change[app.clone()],
    password::set[app.clone()],
    admin::list[app.clone()],
    admin::create[app.clone()],
    admin::get[app.clone()],
    admin::patch[app.clone()],
    admin::reset_password[app.clone()],
    admin::unlock[app.clone()],
    admin::logout_all[app.clone()],
    admin_clients::list[app.clone()],
    admin_clients::create[app.clone()],
    admin_clients::get[app.clone()],
    admin_clients::patch[app.clone()],
    admin_clients::new_secret[app.clone()],
    cuenta::page[],
    cuenta::script[],
    cuenta::style[],
    cuenta::passkey_script[],
    jwks::jwks[app.clone()],
    oauth::token[app.clone()],
    oauth::revoke[app.clone()],
    oauth::introspect[app.clone()],
    oauth::openid_configuration[app.clone()],
    oauth::authorization_server[app.clone()],
    authorize::authorize_get[app.clone()],
    authorize::authorize_post[app.clone()],
    authorize::login_get[app.clone()],
    authorize::login_post[app.clone()],
    authorize::consent_post[app.clone()],
    authorize::logout_get[app.clone()],
    authorize::logout_post[app.clone()],
    userinfo::userinfo_get[app.clone()],
    userinfo::userinfo_post[app.clone()],
    connected::apps[app.clone()],
    connected::withdraw[app.clone()],
    connected::browsers[app.clone()],
    connected::end_browser[app.clone()],
}

/// `/ready`'s check: the store answers, and the signing keys are loaded (an asymmetric algorithm).
fn ready_probe(app: &App) -> impl Fn() -> shared::ops::Probe + Clone + Send + Sync {
    let store = app.store.clone();
    let signing = app.signing.clone();
    move || {
        let store = store.clone();
        let signing = signing.clone();
        Box::pin(async move {
            store.ping().await?;
            signing.as_ref().map_or(Ok(()), |keys| keys.ready())
        })
    }
}

/// Every endpoint of the service, by route, with the envelope for every rejection and the common
/// headers ([`shared::routing::Router`]).
pub fn router(app: &App) -> Router {
    Router::new(table(), endpoints(app))
}

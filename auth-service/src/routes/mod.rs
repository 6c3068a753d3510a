//! The HTTP surface: one filter per endpoint, joined in [`routes`].
//!
//! Each endpoint matches its path and method first, then extracts its body or token, then runs a
//! handler that returns `Result<Response, ApiError>`, turned into a reply by
//! [`shared::http::into_reply`]. Only "no route matched" and extraction failures reach
//! [`shared::rejection::recover`].

mod introspect;
pub(crate) mod login;
mod logout;
mod me;
mod mfa;
mod openapi;
mod refresh;
mod refusal;
mod saphety;

pub use openapi::ApiDoc;

use std::sync::Arc;

use shared::http::{access_claims, security_headers, with_state};
use shared::{AccessClaims, ApiError};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;
use crate::users::User;

/// Every route template, for the metrics `route` label.
pub const ROUTES: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/auth/login",
    "/auth/refresh",
    "/auth/logout",
    "/auth/logout-all",
    "/auth/me",
    "/auth/introspect",
    "/auth/mfa/setup",
    "/auth/mfa/activate",
    "/auth/mfa/verify",
    "/auth/mfa/disable",
    "/v2/auth/gettoken",
];

/// An access token whose signature, claims and session all check out.
pub struct Authenticated {
    pub claims: AccessClaims,
    pub user: Arc<User>,
}

/// The Bearer access token, verified and checked against the store (revocation-aware).
pub fn authenticated(app: App) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone {
    access_claims(app.codec.clone()).and(with_state(app)).and_then(
        |claims: AccessClaims, app: App| async move {
            match app.sessions.check_access(&claims).await {
                Ok(user) => Ok(Authenticated { claims, user }),
                Err(e) => Err(warp::reject::custom(e)),
            }
        },
    )
}

/// A successful reply that carries tokens.
pub(crate) fn token_reply<T: serde::Serialize>(mensaje: &str, datos: T) -> Result<Response, ApiError> {
    Ok(shared::envelope::ok(mensaje, datos))
}

/// Every endpoint of the service, with the envelope for every rejection and the common headers.
pub fn routes(app: App) -> BoxedFilter<(Response,)> {
    let api = shared::ops::health()
        .or(shared::metrics::route())
        .unify()
        .or(shared::ops::openapi(<ApiDoc as utoipa::OpenApi>::openapi()))
        .unify()
        .or(shared::ops::ready(app.store.kind(), {
            let store = app.store.clone();
            move || {
                let store = store.clone();
                async move { store.ping().await }
            }
        }))
        .unify()
        .or(login::login(app.clone()))
        .unify()
        .or(refresh::refresh(app.clone()))
        .unify()
        .or(logout::logout(app.clone()))
        .unify()
        .or(logout::logout_all(app.clone()))
        .unify()
        .or(me::me(app.clone()))
        .unify()
        .or(introspect::introspect(app.clone()))
        .unify()
        .or(mfa::setup(app.clone()))
        .unify()
        .or(mfa::activate(app.clone()))
        .unify()
        .or(mfa::verify(app.clone()))
        .unify()
        .or(mfa::disable(app.clone()))
        .unify()
        .or(saphety::gettoken(app))
        .unify();
    api.recover(shared::rejection::recover)
        .unify()
        .with(security_headers())
        .map(warp::Reply::into_response)
        .boxed()
}

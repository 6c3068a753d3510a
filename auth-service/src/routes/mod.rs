//! The HTTP surface: one filter per endpoint, joined in [`routes`].
//!
//! Each endpoint matches its path and method first, then extracts its body or token, then runs a
//! handler that returns `Result<Response, ApiError>`, turned into a reply by
//! [`shared::http::into_reply`]. Only "no route matched" and extraction failures reach
//! [`shared::rejection::recover`].

mod admin;
mod cuenta;
mod introspect;
pub(crate) mod login;
mod logout;
mod me;
mod mfa;
mod openapi;
mod password;
mod refresh;
mod refusal;
mod saphety;

pub use cuenta::CONTENT_SECURITY_POLICY;
pub use openapi::ApiDoc;

use std::sync::Arc;

use shared::http::{access_claims, with_state};
use shared::routing::Route;
use shared::{AccessClaims, ApiError};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;
use crate::users::User;

/// The route table: every path template and the methods it accepts. It answers 404 and 405 (with
/// `Allow`) before any endpoint runs, and gives the metrics `route` label ([`shared::routing`]).
pub const ROUTES: &[Route] = &[
    get("/health"),
    get("/ready"),
    get("/metrics"),
    get("/openapi.json"),
    post("/auth/login"),
    post("/auth/refresh"),
    post("/auth/logout"),
    post("/auth/logout-all"),
    get("/auth/me"),
    post("/auth/introspect"),
    post("/auth/mfa/setup"),
    post("/auth/mfa/activate"),
    post("/auth/mfa/verify"),
    post("/auth/mfa/disable"),
    post("/v2/auth/gettoken"),
    post("/auth/password"),
    post("/auth/password/set"),
    Route {
        template: "/admin/users",
        methods: &["GET", "POST"],
    },
    Route {
        template: "/admin/users/{id}",
        methods: &["GET", "PATCH"],
    },
    post("/admin/users/{id}/password"),
    post("/admin/users/{id}/unlock"),
    post("/admin/users/{id}/logout-all"),
    // The account page: HTML, JavaScript and CSS, not the envelope (routes/cuenta.rs).
    get("/cuenta"),
    get("/cuenta/app.js"),
    get("/cuenta/app.css"),
];

const fn get(template: &'static str) -> Route {
    Route {
        template,
        methods: &["GET"],
    }
}

const fn post(template: &'static str) -> Route {
    Route {
        template,
        methods: &["POST"],
    }
}

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
                Err(e) => Err(warp::reject::custom(ApiError::from(e))),
            }
        },
    )
}

/// A successful reply that carries tokens.
pub(crate) fn token_reply<T: serde::Serialize>(mensaje: &str, datos: T) -> Result<Response, ApiError> {
    Ok(shared::envelope::ok(mensaje, datos))
}

/// The admin API, boxed on its own so the whole chain stays cheap to compile.
fn admin_routes(app: App) -> BoxedFilter<(Response,)> {
    admin::list(app.clone())
        .or(admin::create(app.clone()))
        .unify()
        .or(admin::get(app.clone()))
        .unify()
        .or(admin::patch(app.clone()))
        .unify()
        .or(admin::reset_password(app.clone()))
        .unify()
        .or(admin::unlock(app.clone()))
        .unify()
        .or(admin::logout_all(app))
        .unify()
        .boxed()
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
        .or(saphety::gettoken(app.clone()))
        .unify()
        .or(password::change(app.clone()))
        .unify()
        .or(password::set(app.clone()))
        .unify()
        .or(admin_routes(app))
        .unify()
        .or(cuenta::page())
        .unify()
        .or(cuenta::script())
        .unify()
        .or(cuenta::style())
        .unify();
    shared::http::serve_table(ROUTES, api)
}

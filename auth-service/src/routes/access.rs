//! Who is calling: the Bearer filters every route that needs a signed-in person uses, and whether the
//! OAuth 2.0 endpoints are on at all. Beside the route
//! files, below them: they import from here, never from `routes/mod.rs`.

use std::sync::Arc;

use shared::http::{access_claims, with_state};
use shared::{AccessClaims, ApiError, Rol};
use warp::{Filter, Rejection};

use crate::app::App;
use crate::audit::Actor;
use crate::users::User;

/// An access token whose signature, claims and session all check out.
pub(super) struct Authenticated {
    pub claims: AccessClaims,
    pub user: Arc<User>,
}

/// The Bearer access token, verified and checked against the store (revocation-aware).
///
/// Only a token of this service's own sign-in: one issued to an OAuth client (`client_id`, from
/// `/oauth2/token`) is the app's, for the resources its scopes name and `/oauth2/userinfo`, never for
/// the account and admin API (a third-party app the user let see their profile must not change
/// their password or, for an admin, manage users): 403.
pub(super) fn authenticated(app: App) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone {
    access_claims(app.codec.clone()).and(with_state(app)).and_then(
        |claims: AccessClaims, app: App| async move {
            // A person's token issued to an app; a machine client's own token is no person's at all
            // and is refused as invalid by the session check below (401), as before.
            if claims.client_id.is_some() && claims.rol.is_some() {
                return Err(warp::reject::custom(ApiError::Forbidden));
            }
            match app.sessions.check_access(&claims).await {
                Ok(user) => Ok(Authenticated { claims, user }),
                Err(e) => Err(warp::reject::custom(ApiError::from(e))),
            }
        },
    )
}

/// The Bearer access token of an active admin; anyone else 403.
pub(super) fn admin(app: App) -> impl Filter<Extract = (Authenticated,), Error = Rejection> + Clone {
    authenticated(app).and_then(|auth: Authenticated| async move {
        if auth.user.rol == Rol::Admin {
            Ok(auth)
        } else {
            Err(warp::reject::custom(ApiError::Forbidden))
        }
    })
}

/// Who an audit line names for a change made through the admin API.
pub(super) fn actor(auth: &Authenticated) -> Actor {
    Actor::User(auth.user.id)
}

/// Passes when the OAuth 2.0 and OpenID Connect endpoints are on (`JWT_ISSUER` is a URL, see
/// [`crate::config::AuthConfig::oauth_enabled`]); otherwise a 404 like any unknown path.
pub(super) fn oauth_enabled(app: &App) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let on = app.config.oauth_enabled();
    warp::any()
        .and_then(move || async move {
            if on {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::NotFound))
            }
        })
        .untuple_one()
}

//! `GET|POST /oauth2/userinfo` (OIDC Core §5.3): the claims of the person an access token with the
//! `openid` scope speaks for, per its scopes (the ID token's), checked against the store like every
//! access token. Errors are RFC 6750 §3's: `401` with `WWW-Authenticate: Bearer error="invalid_token"`,
//! `403` with `error="insufficient_scope"`.

use serde::Serialize;
use shared::http::{optional_header, parse_bearer, with_state};
use shared::routing::Endpoint;
use shared::AccessClaims;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::access::oauth_enabled;
use crate::app::App;
use crate::oauth::id_token::{has_scope, Profile};
use crate::refusal::Refusal;

/// The claims answered: `sub`, then those of the token's scopes.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct UserInfo {
    sub: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    profile: Profile,
}

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = warp::reply::with_status(
        warp::reply::json(&serde_json::json!({"error": error, "error_description": description})),
        status,
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Bearer error=\"{error}\", error_description=\"{description}\""
    )) {
        response.headers_mut().insert("www-authenticate", v);
    }
    response
}

async fn userinfo(app: App, authorization: Option<HeaderValue>) -> Response {
    let Some(token) = authorization.as_ref().and_then(parse_bearer) else {
        let mut response = bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "no Bearer access token",
        );
        // RFC 6750 §3.1: no error code when the request had no credentials at all.
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return response;
    };
    let Ok(claims) = app.codec.verify::<AccessClaims>(token) else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is not valid",
        );
    };
    let scope = claims.scope.clone().unwrap_or_default();
    if claims.rol.is_none() || !has_scope(&scope, "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token has no openid scope",
        );
    }
    match app.sessions.check_access(&claims).await {
        Ok(user) => {
            let body = UserInfo {
                sub: claims.sub.clone(),
                profile: Profile::of(&user, &scope),
            };
            let mut response = warp::reply::json(&body).into_response();
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            response
        }
        Err(Refusal::Store(e)) => {
            tracing::warn!(error = %e, "userinfo: the store does not answer");
            let mut response = warp::reply::with_status(
                warp::reply::json(&serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the service cannot reach its store; try again"
                })),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
        Err(_) => bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token was revoked",
        ),
    }
}

/// `GET /oauth2/userinfo`
// No `security` here: the endpoints answer 404 before any token while the OAuth 2.0 endpoints are off.
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oauth2",
    responses(
        (status = 200, description = "`sub` and the claims of the token's scopes: `preferred_username` and `rol` (profile), `email` and `email_verified` (email); the token in `Authorization: Bearer`", body = UserInfo),
        (status = 401, description = "No token, or one that is not valid or was revoked (`WWW-Authenticate: Bearer`)", content_type = "application/json"),
        (status = 403, description = "`insufficient_scope`: not a person's token with `openid`", content_type = "application/json"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store does not answer", content_type = "application/json")
    ))]
pub(super) fn userinfo_get(app: App) -> Endpoint {
    Endpoint::of::<__path_userinfo_get>(
        warp::path!("oauth2" / "userinfo")
            .and(warp::get())
            .and(oauth_enabled(&app))
            .and(with_state(app))
            .and(optional_header("authorization"))
            .then(userinfo),
    )
}

/// `POST /oauth2/userinfo`
#[utoipa::path(post, path = "/oauth2/userinfo", tag = "oauth2",
    responses(
        (status = 200, description = "As `GET /oauth2/userinfo`", body = UserInfo),
        (status = 401, description = "No token, or one that is not valid or was revoked (`WWW-Authenticate: Bearer`)", content_type = "application/json"),
        (status = 403, description = "`insufficient_scope`", content_type = "application/json"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store does not answer", content_type = "application/json")
    ))]
pub(super) fn userinfo_post(app: App) -> Endpoint {
    Endpoint::of::<__path_userinfo_post>(
        warp::path!("oauth2" / "userinfo")
            .and(warp::post())
            .and(oauth_enabled(&app))
            .and(with_state(app))
            .and(optional_header("authorization"))
            .then(userinfo),
    )
}

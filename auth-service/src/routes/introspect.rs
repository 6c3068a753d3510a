//! `POST /auth/introspect`: whether a token is live right now, for backends that need
//! revocation-aware checks (RFC 7662 in spirit).

use serde::Deserialize;
use shared::http::{into_reply, json_body, with_state};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;
use shared::envelope::{Envelope, ErrorBody};

/// `datos` of an introspection, for the OpenAPI document: `active`, and when it is true every claim of
/// the token (`sub`, `jti`, `sid`, `iat`, `nbf`, `exp`, `iss`, `aud`, `typ`, and for access tokens
/// `username`, `email`, `rol`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct IntrospectRequest {
    token: String,
}

/// `POST /auth/introspect`
#[utoipa::path(post, path = "/auth/introspect", tag = "auth", request_body = IntrospectRequest,
    responses(
        (status = 200, description = "`{active: false}`, or `{active: true}` and the token's claims", body = Envelope<Introspection>),
        (status = 400, description = "Not JSON, or not `Content-Type: application/json`", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 422, description = "A field is missing or of the wrong type", body = ErrorBody),
        (status = 503, description = "The store does not answer", body = ErrorBody)
    ))]
pub fn introspect(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "introspect")
        .and(warp::post())
        .and(json_body::<IntrospectRequest>())
        .and(with_state(app))
        .then(|body: IntrospectRequest, app: App| async move {
            let datos = app.sessions.introspect(&body.token).await?;
            super::token_reply("Token inspeccionado", datos)
        })
        .map(into_reply)
}

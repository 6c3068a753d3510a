//! `POST /auth/introspect`: whether a token is live right now, for backends that need
//! revocation-aware checks (RFC 7662 in spirit). With introspection clients configured
//! (`INTROSPECTION_CLIENTS`), the caller must authenticate with HTTP Basic first (RFC 7662 §2.1):
//! else 401 `INVALID_CLIENT` with `WWW-Authenticate: Basic`, before the body is read.

use serde::Deserialize;
use shared::http::{into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::http::HeaderValue;
use warp::{Filter, Rejection};

use super::reply::token_reply;
use crate::app::App;
use shared::envelope::{Envelope, ErrorBody};

/// `datos` of an introspection, for the OpenAPI document: `active`, and when it is true every claim of
/// the token (`sub`, `jti`, `sid`, `iat`, `nbf`, `exp`, `iss`, `aud`, `typ`, and for access tokens
/// `username`, `email`, `rol`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Introspection {
    pub active: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct IntrospectRequest {
    token: String,
}

/// The caller, when introspection clients are configured: HTTP Basic with one of them, else 401.
fn client(app: &App) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let clients = app.introspection_clients.clone();
    warp::header::value("authorization")
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
        .and_then(move |authorization: Option<HeaderValue>| {
            let clients = clients.clone();
            async move {
                if !clients.required() {
                    return Ok(());
                }
                match clients.authenticate(authorization.as_ref().map(HeaderValue::as_bytes)) {
                    Some(id) => {
                        tracing::debug!(client = id, "introspection client authenticated");
                        Ok(())
                    }
                    None => Err(warp::reject::custom(ApiError::ClientUnauthorized)),
                }
            }
        })
        .untuple_one()
}

/// `POST /auth/introspect`
#[utoipa::path(post, path = "/auth/introspect", tag = "auth", request_body = IntrospectRequest,
    security((), ("introspection_client" = [])),
    responses(
        (status = 200, description = "`{active: false}`, or `{active: true}` and the token's claims", body = Envelope<Introspection>),
        shared::envelope::common::NotJson,
        (status = 401, description = "Introspection clients are configured and the caller did not authenticate as one (`INVALID_CLIENT`, with `WWW-Authenticate: Basic`)", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"introspection\"`"))),
        shared::envelope::common::TooLarge,
        (status = 422, description = "A field is missing or of the wrong type", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn introspect(app: App) -> Endpoint {
    Endpoint::of::<__path_introspect>(
        warp::path!("auth" / "introspect")
            .and(warp::post())
            .and(client(&app))
            .and(json_body::<IntrospectRequest>())
            .and(with_state(app))
            .then(|body: IntrospectRequest, app: App| async move {
                let datos = app.sessions.introspect(&body.token).await?;
                token_reply("Token inspeccionado", datos)
            })
            .map(into_reply),
    )
}

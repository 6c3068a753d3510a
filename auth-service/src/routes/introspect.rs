//! `POST /auth/introspect`: whether a token is live right now, for backends that need
//! revocation-aware checks (RFC 7662 in spirit).

use serde::Deserialize;
use shared::http::{into_reply, json_body, with_state};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;

#[derive(Deserialize)]
pub struct IntrospectRequest {
    token: String,
}

/// `POST /auth/introspect`
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

//! `POST /auth/refresh`: rotates a refresh token (see [`crate::sessions`]).

use serde::Deserialize;
use std::net::IpAddr;

use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::ApiError;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    refresh_token: String,
}

/// `POST /auth/refresh`
pub fn refresh(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("auth" / "refresh")
        .and(warp::post())
        .and(json_body::<RefreshRequest>())
        .and(client_ip(app.config.trusted_proxies.clone()))
        .and(with_state(app))
        .then(handle)
        .map(into_reply)
}

#[tracing::instrument(name = "refresh", skip_all)]
async fn handle(body: RefreshRequest, ip: IpAddr, app: App) -> Result<Response, ApiError> {
    let pair = app
        .sessions
        .refresh(&body.refresh_token, Some(app.limits.ip_counter(ip)))
        .await?;
    super::token_reply("Token renovado", pair)
}

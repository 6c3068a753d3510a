//! `POST /auth/refresh`: rotates a refresh token (see [`crate::sessions`]).

use serde::Deserialize;
use std::net::IpAddr;

use shared::http::{client_ip, into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::reply::Response;
use warp::Filter;

use super::reply::token_reply;
use crate::app::App;
use crate::sessions::TokenPair;
use shared::envelope::{Envelope, ErrorBody};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefreshRequest {
    refresh_token: String,
}

/// `POST /auth/refresh`
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "The successor pair (the presented token is dead from now on)", body = Envelope<TokenPair>),
        shared::envelope::common::NotJson,
        shared::envelope::common::NoToken,
        shared::envelope::common::TooLarge,
        (status = 422, description = "A field is missing or of the wrong type", body = ErrorBody),
        (status = 429, description = "Rate limited (see `Retry-After`)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn refresh(app: App) -> Endpoint {
    Endpoint::of::<__path_refresh>(
        warp::path!("auth" / "refresh")
            .and(warp::post())
            .and(json_body::<RefreshRequest>())
            .and(client_ip(app.config.trusted_proxies.clone()))
            .and(with_state(app))
            .then(handle)
            .map(into_reply),
    )
}

#[tracing::instrument(name = "refresh", skip_all)]
async fn handle(body: RefreshRequest, ip: IpAddr, app: App) -> Result<Response, ApiError> {
    let pair = app
        .sessions
        .refresh(&body.refresh_token, Some(app.limits.ip_counter(ip)))
        .await?;
    token_reply("Token renovado", pair)
}

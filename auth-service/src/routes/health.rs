//! `GET /health` (the process is up) and `GET /ready` (the store answers).

use shared::envelope::{self, Envelope, ErrorBody, Status};
use shared::http::{into_reply, with_state};
use shared::ApiError;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;

/// `GET /health`: 200 whenever the process can answer.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The process is up", body = Envelope<Status>)))]
pub fn health() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("health").and(warp::get()).map(|| {
        envelope::ok(
            "Servicio activo",
            Status {
                status: "up",
                store: None,
            },
        )
    })
}

/// `GET /ready`: 200 only when the store answers, else 503.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "The store answers", body = Envelope<Status>),
        (status = 503, description = "The store does not answer", body = ErrorBody)
    ))]
pub fn ready(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("ready")
        .and(warp::get())
        .and(with_state(app))
        .then(|app: App| async move {
            app.store.ping().await.map_err(ApiError::unavailable)?;
            Ok(envelope::ok(
                "Servicio listo",
                Status {
                    status: "ready",
                    store: Some(app.store.kind()),
                },
            ))
        })
        .map(into_reply)
}

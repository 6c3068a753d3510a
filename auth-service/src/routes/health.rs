//! `GET /health` (the process is up) and `GET /ready` (the store answers).

use shared::envelope;
use shared::http::{into_reply, with_state};
use shared::ApiError;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::app::App;

/// `GET /health`: 200 whenever the process can answer.
pub fn health() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("health")
        .and(warp::get())
        .map(|| envelope::ok("Servicio activo", serde_json::json!({ "status": "up" })))
}

/// `GET /ready`: 200 only when the store answers, else 503.
pub fn ready(app: App) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("ready")
        .and(warp::get())
        .and(with_state(app))
        .then(|app: App| async move {
            app.store.ping().await.map_err(ApiError::unavailable)?;
            Ok(envelope::ok(
                "Servicio listo",
                serde_json::json!({ "status": "ready", "store": app.store.kind() }),
            ))
        })
        .map(into_reply)
}

//! The HTTP surface: `/health`, `/ready` and the solicitud resource. Every `/solicitud` route matches
//! its path and method, then requires a verified access token (signature and claims, through
//! [`shared::http::live_access_claims`], then the app's revocation check: the revocation feed in a
//! process of its own with Redis, nothing with the embedded store, the auth service's sessions in
//! the `all-in-one` binary), so no request reaches a handler unauthenticated.

use serde::Deserialize;
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::{into_reply, json_body, live_access_claims, with_state};
use shared::ops::BearerAuth;
use shared::routing::{Endpoint, Router};
use shared::{AccessClaims, ApiError, Principal, Rol};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use crate::app::App;
use crate::domain::{
    check_transition, timestamp, Estado, FechaServicio, Lugar, Motivo, Pasajeros, Refusal, Rule, Solicitud,
};
use crate::store::{NewSolicitud, Transition};

shared::endpoints! {
    doc ApiDoc(
        info(
            title = "solicitud-service",
            description = "Transport requests. Every route but the ops ones needs `Authorization: Bearer <access token>`, \
                           verified locally. Every response is the `{exito, mensaje, datos}` / `{exito, mensaje, detalle, codigo}` envelope."
        ),
        modifiers(&BearerAuth),
        tags((name = "solicitud", description = "Transport requests"), (name = "ops", description = "Health and readiness"))
    );
    fn endpoints(app: &App);
    shared::ops::health[],
    shared::ops::ready[app.store.kind(), ready_probe(app)],
    shared::ops::metrics[],
    shared::ops::openapi[<ApiDoc as utoipa::OpenApi>::openapi()],
    list[app.clone()],
    create[app.clone()],
    get_one[app.clone()],
    set_estado[app.clone()],
}

/// Every endpoint of the service, by route, with the envelope for every rejection and the common
/// headers ([`shared::routing::Router`]).
pub fn router(app: &App) -> Router {
    Router::new(table(), endpoints(app))
}

/// `/ready`'s check: the store answers and, when this process follows the revocation feed, the feed
/// is current.
fn ready_probe(app: &App) -> impl Fn() -> shared::ops::Probe + Clone + Send + Sync {
    let store = app.store.clone();
    let feed = app.feed.clone();
    let jwks = app.jwks.clone();
    move || {
        let store = store.clone();
        let feed = feed.clone();
        let jwks = jwks.clone();
        Box::pin(async move {
            store.ping().await?;
            jwks.as_ref().map_or(Ok(()), |jwks| jwks.ready())?;
            feed.as_ref().map_or(Ok(()), |feed| feed.ready())
        })
    }
}

/// The verified access token, still standing by the app's revocation check.
fn authenticated(app: &App) -> impl Filter<Extract = (AccessClaims,), Error = Rejection> + Clone {
    live_access_claims(app.verifier.clone(), app.revocations.clone())
}

/// A token with a `scope` claim must carry `scope` for this (403 otherwise); a token without one (the
/// seed's) keeps the role rules alone.
fn require(claims: &AccessClaims, scope: &str) -> Result<(), ApiError> {
    match claims.has_scope(scope) {
        Some(false) => Err(ApiError::Forbidden),
        _ => Ok(()),
    }
}

/// The verified access token of a caller allowed `scope` ([`require`]), checked before the body is
/// read: a caller who may not create learns nothing of what a valid body is.
fn scoped(
    app: &App,
    scope: &'static str,
) -> impl Filter<Extract = (AccessClaims,), Error = Rejection> + Clone {
    authenticated(app).and_then(move |claims: AccessClaims| async move {
        require(&claims, scope)
            .map(|()| claims)
            .map_err(warp::reject::custom)
    })
}

/// Whether the caller sees every request: an admin, or a machine client (its scope decides what it
/// may do with them).
fn sees_all(claims: &AccessClaims) -> bool {
    match claims.principal() {
        Principal::Person { rol, .. } => rol == Rol::Admin,
        Principal::Client { .. } => true,
    }
}

/// Whom a request the caller creates belongs to: the person's username, or the client's id.
fn owner(claims: &AccessClaims) -> &str {
    match claims.principal() {
        Principal::Person { username, .. } => username,
        Principal::Client { client_id } => client_id,
    }
}

/// `GET /solicitud/`: an admin sees every request, anyone else their own.
#[utoipa::path(get, path = "/solicitud/", tag = "solicitud", security(("bearer" = [])),
    responses(
        (status = 200, description = "The requests the caller may see (every one for an admin or a machine client)", body = Envelope<Vec<Solicitud>>),
        (status = 403, description = "A token with a `scope` claim without `solicitud:read`", body = ErrorBody),
        (status = 401, description = "Token missing (`TOKEN_MISSING`), expired (`TOKEN_EXPIRED`), invalid (`TOKEN_INVALID`) or revoked (`TOKEN_REVOKED`)", body = ErrorBody),
        (status = 503, description = "The store does not answer, the revocation feed is stale past its bound, or (`JWT_JWKS_URL`) no key set was fetched yet", body = ErrorBody)
    ))]
fn list(app: App) -> Endpoint {
    Endpoint::of::<__path_list>(
        warp::path!("solicitud")
            .and(warp::get())
            .and(scoped(&app, "solicitud:read"))
            .and(with_state(app))
            .then(|claims: AccessClaims, app: App| async move {
                let owner = (!sees_all(&claims)).then_some(owner(&claims));
                let items = app.store.list(owner).await?;
                Ok::<_, ApiError>(envelope::ok("Solicitudes obtenidas", items))
            })
            .map(into_reply),
    )
}

/// A new request. The schema of each field is its domain type's ([`Lugar`], [`FechaServicio`],
/// [`Pasajeros`], [`Motivo`]), so the document says exactly what the handler accepts.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "origen": "Bogotá, Calle 26",
    "destino": "Aeropuerto El Dorado",
    "fechaServicio": "2099-06-01T08:30:00-05:00",
    "pasajeros": 3,
    "motivo": "Traslado de testigos a audiencia"
}))]
struct CreateRequest {
    #[schema(schema_with = Lugar::schema)]
    origen: String,
    #[schema(schema_with = Lugar::schema)]
    destino: String,
    #[schema(schema_with = FechaServicio::schema)]
    fecha_servicio: String,
    #[schema(schema_with = Pasajeros::schema)]
    #[serde(deserialize_with = "Pasajeros::deserialize_number")]
    pasajeros: i64,
    #[schema(schema_with = Motivo::schema)]
    motivo: String,
}

/// `POST /solicitud/`: a new request, `pendiente`.
#[utoipa::path(post, path = "/solicitud/", tag = "solicitud", security(("bearer" = [])), request_body = CreateRequest,
    responses(
        (status = 201, description = "Created, `estado: pendiente`", body = Envelope<Solicitud>),
        (status = 403, description = "A token with a `scope` claim without `solicitud:write`", body = ErrorBody),
        shared::envelope::common::NotJson,
        (status = 401, description = "Token missing (`TOKEN_MISSING`), expired (`TOKEN_EXPIRED`), invalid (`TOKEN_INVALID`) or revoked (`TOKEN_REVOKED`)", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "A field is missing or invalid; `detalle` names it", body = ErrorBody),
        (status = 503, description = "The store does not answer, the revocation feed is stale past its bound, or (`JWT_JWKS_URL`) no key set was fetched yet", body = ErrorBody)
    ))]
fn create(app: App) -> Endpoint {
    Endpoint::of::<__path_create>(
        warp::path!("solicitud")
            .and(warp::post())
            .and(scoped(&app, "solicitud:write"))
            .and(json_body::<CreateRequest>())
            .and(with_state(app))
            .then(|claims: AccessClaims, body: CreateRequest, app: App| async move {
                let now = app.clock.now_ms();
                let new = NewSolicitud {
                    solicitante: owner(&claims).to_string(),
                    origen: Lugar::parse("origen", &body.origen)?.into_inner(),
                    destino: Lugar::parse("destino", &body.destino)?.into_inner(),
                    fecha_servicio: FechaServicio::parse(&body.fecha_servicio, now)?.to_rfc3339(),
                    pasajeros: Pasajeros::parse(body.pasajeros)?.get(),
                    motivo: Motivo::parse(&body.motivo)?.into_inner(),
                    creada_en: timestamp(now),
                };
                let created = app.store.create(new).await?;
                tracing::info!(id = created.id, "solicitud created");
                Ok::<_, ApiError>(envelope::success(
                    StatusCode::CREATED,
                    "Solicitud creada",
                    created,
                ))
            })
            .map(into_reply),
    )
}

/// A request the caller may see: an admin any, anyone else only their own (others are 404).
async fn visible(app: &App, claims: &AccessClaims, id: u64) -> Result<crate::domain::Solicitud, ApiError> {
    match app.store.get(id).await? {
        Some(s) if sees_all(claims) || s.solicitante == owner(claims) => Ok(s),
        _ => Err(ApiError::NotFound),
    }
}

/// `GET /solicitud/{id}`
#[utoipa::path(get, path = "/solicitud/{id}", tag = "solicitud", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The request", body = Envelope<Solicitud>),
        (status = 403, description = "A token with a `scope` claim without `solicitud:read`", body = ErrorBody),
        (status = 401, description = "Token missing (`TOKEN_MISSING`), expired (`TOKEN_EXPIRED`), invalid (`TOKEN_INVALID`) or revoked (`TOKEN_REVOKED`)", body = ErrorBody),
        (status = 404, description = "No such request, or someone else's", body = ErrorBody),
        (status = 503, description = "The store does not answer, the revocation feed is stale past its bound, or (`JWT_JWKS_URL`) no key set was fetched yet", body = ErrorBody)
    ))]
fn get_one(app: App) -> Endpoint {
    Endpoint::of::<__path_get_one>(
        warp::path!("solicitud" / u64)
            .and(warp::get())
            .and(scoped(&app, "solicitud:read"))
            .and(with_state(app))
            .then(|id: u64, claims: AccessClaims, app: App| async move {
                let s = visible(&app, &claims, id).await?;
                Ok::<_, ApiError>(envelope::ok("Solicitud obtenida", s))
            })
            .map(into_reply),
    )
}

/// The state asked for: only the ones a client may set ([`Estado::SETTABLE`]).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"estado": "cancelada"}))]
struct EstadoRequest {
    #[schema(schema_with = Estado::settable_schema)]
    estado: Estado,
}

/// `PATCH /solicitud/{id}/estado`: an admin approves or rejects a pending request; the owner may
/// cancel their own pending one. A decided request: 409 CONFLICT.
#[utoipa::path(patch, path = "/solicitud/{id}/estado", tag = "solicitud", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The request's id")), request_body = EstadoRequest,
    responses(
        (status = 200, description = "The request in its new state", body = Envelope<Solicitud>),
        shared::envelope::common::NotJson,
        (status = 401, description = "Token missing (`TOKEN_MISSING`), expired (`TOKEN_EXPIRED`), invalid (`TOKEN_INVALID`) or revoked (`TOKEN_REVOKED`)", body = ErrorBody),
        (status = 403, description = "A usuario approving or rejecting, or cancelling someone else's; a token with a `scope` claim without `solicitud:admin` (approve, reject) or `solicitud:write` (cancel)", body = ErrorBody),
        (status = 404, description = "No such request, or someone else's", body = ErrorBody),
        (status = 409, description = "No longer pending (`CONFLICT`)", body = ErrorBody),
        shared::envelope::common::TooLarge,
        (status = 422, description = "A field is missing or invalid; `detalle` names it", body = ErrorBody),
        (status = 503, description = "The store does not answer, the revocation feed is stale past its bound, or (`JWT_JWKS_URL`) no key set was fetched yet", body = ErrorBody)
    ))]
fn set_estado(app: App) -> Endpoint {
    Endpoint::of::<__path_set_estado>(
        warp::path!("solicitud" / u64 / "estado")
            .and(warp::patch())
            .and(authenticated(&app))
            .and(json_body::<EstadoRequest>())
            .and(with_state(app))
            .then(
                |id: u64, claims: AccessClaims, body: EstadoRequest, app: App| async move {
                    // Approving or rejecting needs `solicitud:admin` (and, for a person, the admin
                    // role); cancelling needs `solicitud:write` (and to be the owner).
                    let deciding = body.estado != Estado::Cancelada;
                    require(
                        &claims,
                        if deciding {
                            "solicitud:admin"
                        } else {
                            "solicitud:write"
                        },
                    )?;
                    let current = visible(&app, &claims, id).await?;
                    let admin = match claims.principal() {
                        Principal::Person { rol, .. } => rol == Rol::Admin,
                        Principal::Client { .. } => claims.has_scope("solicitud:admin") == Some(true),
                    };
                    check_transition(&current, owner(&claims), admin, body.estado)?;
                    let now = timestamp(app.clock.now_ms());
                    match app
                        .store
                        .transition(id, Estado::Pendiente, body.estado, &now)
                        .await?
                    {
                        Transition::Done(s) => {
                            tracing::info!(id, estado = s.estado.as_str(), "solicitud decided");
                            Ok(envelope::ok("Estado actualizado", s))
                        }
                        // Someone else decided it between our read and our write.
                        Transition::Conflict(s) => Err(Refusal::NotPending(s.estado).into()),
                        Transition::Missing => Err(ApiError::NotFound),
                    }
                },
            )
            .map(into_reply),
    )
}

/// The edge: each domain refusal in the envelope, with the text a client reads.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid { field, rule } => {
                let detalle = match rule {
                    Rule::Length { min, max } => {
                        format!("El campo '{field}' debe tener entre {min} y {max} caracteres.")
                    }
                    Rule::Range { min, max } => {
                        format!("El campo '{field}' debe ser un entero entre {min} y {max}.")
                    }
                    Rule::NotRfc3339 => format!(
                        "El campo '{field}' debe ser una fecha RFC 3339, por ejemplo 2026-12-01T08:30:00-05:00."
                    ),
                    Rule::AfterYear(year) => {
                        format!("El campo '{field}' debe ser una fecha anterior al año {}.", year + 1)
                    }
                    Rule::InThePast => format!("El campo '{field}' no puede estar en el pasado."),
                    Rule::NotSettable => {
                        format!("El campo '{field}' debe ser aprobada, rechazada o cancelada.")
                    }
                };
                ApiError::validation(field, detalle)
            }
            Refusal::NotAllowed => ApiError::Forbidden,
            Refusal::NotPending(estado) => ApiError::Conflict(format!(
                "La solicitud ya está {}: solo una solicitud pendiente puede cambiar de estado.",
                estado.as_str()
            )),
        }
    }
}

//! The admin API for OAuth 2.0 clients (Bearer access token of an `admin`; anyone else 403), in the
//! seed envelope with RFC 7591 metadata names: `GET`/`POST /admin/clients`, `GET`/`PATCH
//! /admin/clients/{client_id}`, `POST /admin/clients/{client_id}/secret`. A confidential client's
//! secret is in the answer of its create and of each new secret, that once ([`crate::oauth::registry`]).

use serde::{Deserialize, Serialize};
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::{into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::http::StatusCode;
use warp::Filter;

use super::access::{actor, admin, Authenticated};
use crate::app::App;
use crate::oauth::registry::{ClientChanges, ClientMetadata, DEFAULT_PREVIOUS_SECRET_SECS};
use crate::store::ClientRecord;

/// A client as the admin API shows one: its RFC 7591 metadata and whether it is active; never a
/// secret or its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct AdminClient {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Space-separated.
    pub scope: String,
    pub token_endpoint_auth_method: String,
    pub id_token_signed_response_alg: String,
    /// OIDC Back-Channel Logout; empty when none.
    pub backchannel_logout_uri: String,
    pub first_party: bool,
    pub active: bool,
    /// How many secrets are valid now (two while a rotation's previous one lasts).
    pub valid_secrets: usize,
    /// Whether `CLIENTS_FILE` declares it (a change made here stands until its entry changes).
    pub configured: bool,
}

impl AdminClient {
    fn of(c: ClientRecord, now_ms: i64) -> Self {
        Self {
            valid_secrets: c
                .secrets
                .iter()
                .filter(|s| s.expires_ms == 0 || s.expires_ms > now_ms)
                .count(),
            configured: !c.config.is_empty(),
            client_id: c.client_id,
            client_name: c.client_name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            scope: c.scope,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            backchannel_logout_uri: c.backchannel_logout_uri,
            first_party: c.first_party,
            active: c.active,
        }
    }
}

/// `POST /admin/clients`: what is left out takes RFC 7591's default (or the one named).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    /// Generated when left out.
    #[schema(schema_with = crate::schemas::client_id_schema)]
    client_id: Option<String>,
    #[schema(schema_with = crate::schemas::client_name_schema)]
    client_name: String,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::redirect_uris_schema)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::redirect_uris_schema)]
    post_logout_redirect_uris: Vec<String>,
    /// `["authorization_code"]` when left out.
    #[schema(schema_with = crate::schemas::grant_types_schema)]
    grant_types: Option<Vec<String>>,
    /// Space-separated; `solicitud:read` for a client whose only grant is `client_credentials`, else
    /// `openid profile email`, when left out.
    #[schema(schema_with = crate::schemas::scope_schema)]
    scope: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post`, or `none` (a public client).
    #[schema(schema_with = crate::schemas::auth_method_schema)]
    token_endpoint_auth_method: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[schema(schema_with = crate::schemas::id_token_alg_schema)]
    id_token_signed_response_alg: Option<String>,
    /// OIDC Back-Channel Logout 1.0: where logout tokens go when a browser session this client signed
    /// in through ends (`http`: this build posts without TLS; confidential clients only).
    #[schema(schema_with = crate::schemas::backchannel_uri_schema)]
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    first_party: bool,
}

/// `PATCH /admin/clients/{client_id}`: the fields given replace the stored ones; `active: false`
/// revokes every token of the client.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchClient {
    #[schema(schema_with = crate::schemas::client_name_or_null_schema)]
    client_name: Option<String>,
    #[schema(schema_with = crate::schemas::redirect_uris_or_null_schema)]
    redirect_uris: Option<Vec<String>>,
    #[schema(schema_with = crate::schemas::redirect_uris_or_null_schema)]
    post_logout_redirect_uris: Option<Vec<String>>,
    #[schema(schema_with = crate::schemas::grant_types_schema)]
    grant_types: Option<Vec<String>>,
    #[schema(schema_with = crate::schemas::scope_schema)]
    scope: Option<String>,
    #[schema(schema_with = crate::schemas::auth_method_schema)]
    token_endpoint_auth_method: Option<String>,
    #[schema(schema_with = crate::schemas::id_token_alg_schema)]
    id_token_signed_response_alg: Option<String>,
    /// `""` removes it.
    #[schema(schema_with = crate::schemas::backchannel_uri_schema)]
    backchannel_logout_uri: Option<String>,
    first_party: Option<bool>,
    active: Option<bool>,
}

/// `POST /admin/clients/{client_id}/secret` (`{}` for the defaults).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSecretRequest {
    /// How long the previous secret stays valid (0 to 2,592,000 s; 86,400 when left out). 0 ends it
    /// now and revokes every token of the client, as for a leaked secret.
    #[schema(minimum = 0, maximum = 2_592_000)]
    #[serde(default, deserialize_with = "whole_seconds")]
    keep_previous_seconds: Option<i64>,
}

/// A JSON number that is a whole number, however written (`569` or `569.0`, as JSON Schema's
/// `integer` allows); `null` is none. Out of `i64`'s range saturates, and the range check refuses it.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "invalid type: floating point `{n}`, expected a whole number of seconds"
        ))),
    }
}

/// A client and its secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct WithSecret {
    client: AdminClient,
    /// A confidential client's secret; absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

fn now_ms(app: &App) -> i64 {
    app.clock.now_ms()
}

/// `GET /admin/clients`
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every client, by client_id", body = Envelope<Vec<AdminClient>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn list(app: App) -> Endpoint {
    Endpoint::of::<__path_list>(
        warp::path!("admin" / "clients")
            .and(warp::get())
            .and(admin(app.clone()))
            .and(with_state(app))
            .then(|_auth: Authenticated, app: App| async move {
                let now = now_ms(&app);
                let clients = app.registry.list().await?;
                let clients: Vec<AdminClient> =
                    clients.into_iter().map(|c| AdminClient::of(c, now)).collect();
                Ok::<_, ApiError>(envelope::ok("Clientes", clients))
            })
            .map(into_reply),
    )
}

/// `POST /admin/clients`
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("bearer" = [])), request_body = NewClient,
    responses(
        (status = 201, description = "Created; a confidential client's `client_secret`, shown this once", body = Envelope<WithSecret>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The client_id is taken", body = ErrorBody),
        (status = 422, description = "A bad field (named)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn create(app: App) -> Endpoint {
    Endpoint::of::<__path_create>(
        warp::path!("admin" / "clients")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(json_body::<NewClient>())
            .and(with_state(app))
            .then(|auth: Authenticated, body: NewClient, app: App| async move {
                let metadata = ClientMetadata {
                    client_id: body.client_id,
                    client_name: Some(body.client_name),
                    redirect_uris: body.redirect_uris,
                    post_logout_redirect_uris: body.post_logout_redirect_uris,
                    grant_types: body.grant_types,
                    scope: body.scope,
                    token_endpoint_auth_method: body.token_endpoint_auth_method,
                    id_token_signed_response_alg: body.id_token_signed_response_alg,
                    backchannel_logout_uri: body.backchannel_logout_uri,
                    first_party: body.first_party,
                    client_secret_hash: None,
                    active: None,
                };
                let created = app.registry.create(&metadata, actor(&auth)).await?;
                Ok::<_, ApiError>(envelope::success(
                    StatusCode::CREATED,
                    "Cliente creado",
                    WithSecret {
                        client: AdminClient::of(created.client, now_ms(&app)),
                        client_secret: created.secret.map(|s| s.secret),
                    },
                ))
            })
            .map(into_reply),
    )
}

/// `GET /admin/clients/{client_id}`
#[utoipa::path(get, path = "/admin/clients/{client_id}", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The client", body = Envelope<AdminClient>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn get(app: App) -> Endpoint {
    Endpoint::of::<__path_get>(
        warp::path!("admin" / "clients" / String)
            .and(warp::get())
            .and(admin(app.clone()))
            .and(with_state(app))
            .then(|client_id: String, _auth: Authenticated, app: App| async move {
                let client = app.registry.get(&client_id).await?.ok_or(ApiError::NotFound)?;
                Ok::<_, ApiError>(envelope::ok("Cliente", AdminClient::of(client, now_ms(&app))))
            })
            .map(into_reply),
    )
}

/// `PATCH /admin/clients/{client_id}`
#[utoipa::path(patch, path = "/admin/clients/{client_id}", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")), request_body = PatchClient,
    responses(
        (status = 200, description = "The client as changed; disabling it revoked its tokens", body = Envelope<AdminClient>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 422, description = "A bad field (named), or a confidential client made public or the other way round", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn patch(app: App) -> Endpoint {
    Endpoint::of::<__path_patch>(
        warp::path!("admin" / "clients" / String)
            .and(warp::patch())
            .and(admin(app.clone()))
            .and(json_body::<PatchClient>())
            .and(with_state(app))
            .then(
                |client_id: String, auth: Authenticated, body: PatchClient, app: App| async move {
                    let changes = ClientChanges {
                        client_name: body.client_name,
                        redirect_uris: body.redirect_uris,
                        post_logout_redirect_uris: body.post_logout_redirect_uris,
                        grant_types: body.grant_types,
                        scope: body.scope,
                        token_endpoint_auth_method: body.token_endpoint_auth_method,
                        id_token_signed_response_alg: body.id_token_signed_response_alg,
                        backchannel_logout_uri: body.backchannel_logout_uri,
                        first_party: body.first_party,
                        active: body.active,
                    };
                    if changes.active == Some(false) {
                        // Before the write: a failure leaves the sessions ended rather than alive.
                        app.provider.end_client_sessions(&client_id).await?;
                    }
                    let client = app.registry.change(&client_id, &changes, actor(&auth)).await?;
                    Ok::<_, ApiError>(envelope::ok(
                        "Cliente actualizado",
                        AdminClient::of(client, now_ms(&app)),
                    ))
                },
            )
            .map(into_reply),
    )
}

/// `POST /admin/clients/{client_id}/secret`
#[utoipa::path(post, path = "/admin/clients/{client_id}/secret", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's id")), request_body = NewSecretRequest,
    responses(
        (status = 200, description = "A new `client_secret`, shown this once; the previous one stays valid for `keep_previous_seconds`", body = Envelope<WithSecret>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such client", body = ErrorBody),
        (status = 409, description = "A public client, which has no secret", body = ErrorBody),
        (status = 422, description = "A bad `keep_previous_seconds`", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn new_secret(app: App) -> Endpoint {
    Endpoint::of::<__path_new_secret>(
        warp::path!("admin" / "clients" / String / "secret")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(json_body::<NewSecretRequest>())
            .and(with_state(app))
            .then(
                |client_id: String, auth: Authenticated, body: NewSecretRequest, app: App| async move {
                    let keep = body.keep_previous_seconds.unwrap_or(DEFAULT_PREVIOUS_SECRET_SECS);
                    let (client, secret) = app.registry.rotate_secret(&client_id, keep, actor(&auth)).await?;
                    Ok::<_, ApiError>(envelope::ok(
                        "Nuevo secreto del cliente",
                        WithSecret {
                            client: AdminClient::of(client, now_ms(&app)),
                            client_secret: Some(secret.secret),
                        },
                    ))
                },
            )
            .map(into_reply),
    )
}

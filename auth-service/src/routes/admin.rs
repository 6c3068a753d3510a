//! The admin API: users managed live (Bearer access token of an `admin`; anyone else 403).
//!
//! `GET /admin/users?after=<id>&limit=<1..=500>` pages by id (a full page means there may be more:
//! ask again with `after` = the last id); `POST /admin/users` creates (with a `password`, held to the
//! policy, or without one: the answer carries a one-time set-password token); `GET`/`PATCH
//! /admin/users/{id}`; `POST /admin/users/{id}/password` (with `password`: set; without: cleared and a
//! set-password token); `POST /admin/users/{id}/unlock`; `POST /admin/users/{id}/logout-all`. Disabling
//! a user, another role or a password reset ends every session of the user (see [`crate::accounts`]).
//! An admin cannot disable or demote themself (409): the last admin cannot lock everyone out.

use serde::{Deserialize, Serialize};
use shared::envelope::{self, Envelope, ErrorBody};
use shared::http::{into_reply, json_body, with_state};
use shared::routing::Endpoint;
use shared::{ApiError, Rol};
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::access::{actor, admin, Authenticated};
use crate::accounts::{Changes, NewUser, ResetToken};
use crate::app::App;
use crate::users::User;

/// A user as the admin API shows one (never a hash or a token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct AdminUser {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub rol: Rol,
    pub virtual_operator: String,
    pub active: bool,
    /// False while a set-password token is pending.
    pub password_set: bool,
}

impl From<&User> for AdminUser {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.as_str().to_string(),
            email: u.email.as_str().to_string(),
            rol: u.rol,
            virtual_operator: u.virtual_operator.clone(),
            active: u.active,
            password_set: !u.password_hash.is_empty(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUser {
    #[schema(schema_with = crate::schemas::new_username_schema)]
    username: String,
    #[schema(schema_with = crate::schemas::new_email_schema)]
    email: String,
    /// `usuario` unless given.
    rol: Option<Rol>,
    #[schema(schema_with = crate::schemas::operator_or_null_schema)]
    virtual_operator: Option<String>,
    /// Held to the password policy; leave it out to get a set-password token instead.
    #[schema(schema_with = crate::schemas::new_password_or_null_schema)]
    password: Option<String>,
}

/// What a create answers: the user, and the set-password token when no password was given.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Created {
    user: AdminUser,
    /// Only when no password was given: good once, for `POST /auth/password/set`.
    #[serde(skip_serializing_if = "Option::is_none")]
    set_password_token: Option<String>,
    /// Seconds the token stays good; with the token only.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchUser {
    rol: Option<Rol>,
    #[schema(schema_with = crate::schemas::new_email_or_null_schema)]
    email: Option<String>,
    #[schema(schema_with = crate::schemas::operator_or_null_schema)]
    virtual_operator: Option<String>,
    active: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetPassword {
    /// Held to the password policy; leave it out to clear the password and get a set-password token.
    #[schema(schema_with = crate::schemas::new_password_or_null_schema)]
    password: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    /// Only users with a greater id (default 0).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many (1..=500, default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// The query of `GET /admin/users`; a bad one is 422 naming the parameter.
fn page() -> impl Filter<Extract = (Page,), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move { serde_urlencoded_page(&raw).map_err(warp::reject::custom) })
}

fn serde_urlencoded_page(raw: &str) -> Result<Page, ApiError> {
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    let page: Page = serde_path_to_error::deserialize(pairs).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { "query".to_string() } else { field };
        ApiError::validation(
            field.clone(),
            format!("Parámetro inválido '{field}': use 'after' (un id) y 'limit' (1 a 500)."),
        )
    })?;
    if page.after.is_some_and(|a| a < 0) {
        return Err(ApiError::validation(
            "after",
            "El parámetro 'after' debe ser un id (entero no negativo).",
        ));
    }
    if page.limit.is_some_and(|n| !(1..=500).contains(&n)) {
        return Err(ApiError::validation(
            "limit",
            "El parámetro 'limit' debe estar entre 1 y 500.",
        ));
    }
    Ok(page)
}

/// `GET /admin/users`
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])), params(Page),
    responses(
        (status = 200, description = "Users by id, at most `limit`", body = Envelope<Vec<AdminUser>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "A bad `after` or `limit`", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn list(app: App) -> Endpoint {
    Endpoint::of::<__path_list>(
        warp::path!("admin" / "users")
            .and(warp::get())
            .and(admin(app.clone()))
            .and(page())
            .and(with_state(app))
            .then(|_auth: Authenticated, page: Page, app: App| async move {
                let users = app
                    .accounts
                    .list(page.after.unwrap_or(0).unsigned_abs(), page.limit.unwrap_or(100))
                    .await?;
                let users: Vec<AdminUser> = users.iter().map(AdminUser::from).collect();
                Ok::<_, ApiError>(envelope::ok("Usuarios", users))
            })
            .map(into_reply),
    )
}

/// `POST /admin/users`
#[utoipa::path(post, path = "/admin/users", tag = "admin", security(("bearer" = [])), request_body = CreateUser,
    responses(
        (status = 201, description = "Created; with `setPasswordToken` when no password was given", body = Envelope<Created>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Username or e-mail already taken", body = ErrorBody),
        (status = 422, description = "A bad field, or a password that breaks the policy (the rule is named)", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn create(app: App) -> Endpoint {
    Endpoint::of::<__path_create>(
        warp::path!("admin" / "users")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(json_body::<CreateUser>())
            .and(with_state(app))
            .then(|auth: Authenticated, body: CreateUser, app: App| async move {
                let new = NewUser {
                    username: body.username,
                    email: body.email,
                    rol: body.rol.unwrap_or(Rol::Usuario),
                    virtual_operator: body.virtual_operator,
                    password: body.password,
                };
                let (user, reset) = app.accounts.create(new, actor(&auth)).await?;
                Ok::<_, ApiError>(envelope::success(
                    StatusCode::CREATED,
                    "Usuario creado",
                    Created {
                        user: AdminUser::from(&user),
                        set_password_token: reset.as_ref().map(|r| r.set_password_token.clone()),
                        expires_in: reset.map(|r| r.expires_in),
                    },
                ))
            })
            .map(into_reply),
    )
}

/// `GET /admin/users/{id}`
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = Envelope<AdminUser>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn get(app: App) -> Endpoint {
    Endpoint::of::<__path_get>(
        warp::path!("admin" / "users" / u64)
            .and(warp::get())
            .and(admin(app.clone()))
            .and(with_state(app))
            .then(|id: u64, _auth: Authenticated, app: App| async move {
                let user = app.accounts.by_id(id).await?.ok_or(ApiError::NotFound)?;
                Ok::<_, ApiError>(envelope::ok("Usuario", AdminUser::from(user.as_ref())))
            })
            .map(into_reply),
    )
}

/// `PATCH /admin/users/{id}`
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The user's id")), request_body = PatchUser,
    responses(
        (status = 200, description = "The user as changed; disabling or another role ended their sessions", body = Envelope<AdminUser>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "E-mail already taken, an admin disabling or demoting themself, or the change would leave no active admin", body = ErrorBody),
        (status = 422, description = "A bad field", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn patch(app: App) -> Endpoint {
    Endpoint::of::<__path_patch>(
        warp::path!("admin" / "users" / u64)
            .and(warp::patch())
            .and(admin(app.clone()))
            .and(json_body::<PatchUser>())
            .and(with_state(app))
            .then(
                |id: u64, auth: Authenticated, body: PatchUser, app: App| async move {
                    let demotes_self =
                        body.rol.is_some_and(|r| r != Rol::Admin) || body.active == Some(false);
                    if id == auth.user.id && demotes_self {
                        return Err(ApiError::Conflict(
                            "Un administrador no puede desactivarse ni quitarse el rol admin a sí mismo."
                                .into(),
                        ));
                    }
                    let changes = Changes {
                        rol: body.rol,
                        email: body.email,
                        virtual_operator: body.virtual_operator,
                        active: body.active,
                    };
                    let user = app.accounts.change(id, changes, actor(&auth)).await?;
                    Ok(envelope::ok("Usuario actualizado", AdminUser::from(&user)))
                },
            )
            .map(into_reply),
    )
}

/// What a password reset answers: the user (a password was given) or a set-password token.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum Reset {
    User(AdminUser),
    Token(ResetToken),
}

/// `POST /admin/users/{id}/password`
#[utoipa::path(post, path = "/admin/users/{id}/password", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The user's id")), request_body = ResetPassword,
    responses(
        (status = 200, description = "Password set (the user), or cleared (a set-password token); every session of the user ended", body = Envelope<Reset>),
        (status = 400, description = "Not JSON", body = ErrorBody),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "A password that breaks the policy (the rule is named)", body = ErrorBody),
        (status = 409, description = "The admin's own password: changed only at POST /auth/password, with the current one", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn reset_password(app: App) -> Endpoint {
    Endpoint::of::<__path_reset_password>(
        warp::path!("admin" / "users" / u64 / "password")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(json_body::<ResetPassword>())
            .and(with_state(app))
            .then(
                |id: u64, auth: Authenticated, body: ResetPassword, app: App| async move {
                    let reset = match body.password {
                        Some(password) => Reset::User(AdminUser::from(
                            &app.accounts.set_password(id, &password, actor(&auth)).await?,
                        )),
                        None => Reset::Token(app.accounts.issue_reset(id, actor(&auth)).await?),
                    };
                    Ok::<_, ApiError>(envelope::ok("Contraseña restablecida", reset))
                },
            )
            .map(into_reply),
    )
}

/// `POST /admin/users/{id}/unlock`
#[utoipa::path(post, path = "/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The failed logins of the user's username and e-mail are forgotten; `datos` is null", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn unlock(app: App) -> Endpoint {
    Endpoint::of::<__path_unlock>(
        warp::path!("admin" / "users" / u64 / "unlock")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(with_state(app))
            .then(|id: u64, auth: Authenticated, app: App| async move {
                app.accounts.unlock(id, actor(&auth)).await?;
                Ok::<_, ApiError>(envelope::ok("Cuenta desbloqueada", serde_json::Value::Null))
            })
            .map(into_reply),
    )
}

/// `POST /admin/users/{id}/logout-all`
#[utoipa::path(post, path = "/admin/users/{id}/logout-all", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Every session of the user is revoked; `datos` is null", body = Envelope<Option<String>>),
        shared::envelope::common::NoToken,
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        shared::envelope::common::StoreDown
    ))]
pub(super) fn logout_all(app: App) -> Endpoint {
    Endpoint::of::<__path_logout_all>(
        warp::path!("admin" / "users" / u64 / "logout-all")
            .and(warp::post())
            .and(admin(app.clone()))
            .and(with_state(app))
            .then(|id: u64, auth: Authenticated, app: App| async move {
                app.accounts.end_sessions(id, actor(&auth)).await?;
                Ok::<_, ApiError>(envelope::ok(
                    "Todas las sesiones del usuario cerradas",
                    serde_json::Value::Null,
                ))
            })
            .map(into_reply),
    )
}

//! The browser's side of OpenID Connect: `/oauth2/authorize`, the hosted login page
//! (`/oauth2/login`, its second step and `/oauth2/login/consent`) and `/oauth2/logout`. They answer
//! HTML pages ([`super::pages`]) and redirects, never the envelope; the checks and the records are
//! [`crate::oauth::authorize`]'s and [`crate::oauth::browser`]'s.
//!
//! - **One login flow:** the page signs in through [`crate::authenticate::Authenticator`], the use case
//!   behind `/auth/login`, `/auth/mfa/verify` and gettoken (the same lock, limits, timing and second
//!   factor).
//! - **CSRF:** every form carries a hidden `csrf` equal to a cookie set with the page (`HttpOnly`,
//!   `SameSite=Lax`, `__Host-` and `Secure` on https); a POST whose field and cookie differ is
//!   refused (403) before anything else is looked at. `SameSite=Lax` also keeps the cookies off
//!   another site's POST.
//! - **No open redirect:** the only places anything is redirected to are a client's registered
//!   `redirect_uris` (checked in [`crate::oauth::authorize::Provider::check`]) and
//!   `post_logout_redirect_uris`.

use std::net::IpAddr;

use bytes::BytesMut;
use shared::http::{client_ip, raw_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use subtle::ConstantTimeEq;
use warp::http::header::{HeaderValue, LOCATION, SET_COOKIE};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::pages::{self, Page};
use crate::app::App;
use crate::authenticate::{Identifier, Proven, SignIn};
use crate::oauth::authorize::{AuthRequest, AuthorizeError, ErrorRedirect};
use crate::oauth::bearer::random_token;
use crate::oauth::browser::BrowserSession;
use crate::refusal::Refusal;
use crate::store::ClientRecord;
use crate::users::User;

/// The cookies of the page: the browser session's and the CSRF token's, `__Host-` on https.
#[derive(Clone, Copy)]
struct CookieNames {
    sso: &'static str,
    csrf: &'static str,
    secure: bool,
}

impl CookieNames {
    fn of(app: &App) -> Self {
        if app.config.common.jwt.issuer.starts_with("https://") {
            Self {
                sso: "__Host-sso",
                csrf: "__Host-csrf",
                secure: true,
            }
        } else {
            Self {
                sso: "sso",
                csrf: "csrf",
                secure: false,
            }
        }
    }

    fn set(&self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
        ))
        .ok()
    }
}

/// What a request brought of the page's cookies.
#[derive(Clone, Default)]
struct Cookies {
    sso: Option<String>,
    csrf: Option<String>,
}

/// Everything a page's handler takes: the state, the cookies, the client's IP.
struct Visit {
    app: App,
    names: CookieNames,
    cookies: Cookies,
    ip: IpAddr,
}

impl Visit {
    /// The CSRF token of the forms this answer shows: the cookie's, or a new one the answer sets.
    fn csrf(&self) -> (String, bool) {
        match self.cookies.csrf.as_deref().filter(|c| c.len() == 43) {
            Some(c) => (c.to_string(), false),
            None => (random_token(), true),
        }
    }

    /// Whether a form's `csrf` field is the cookie's (compared in constant time).
    fn csrf_ok(&self, field: Option<&str>) -> bool {
        match (self.cookies.csrf.as_deref(), field) {
            (Some(cookie), Some(field)) if !cookie.is_empty() => {
                bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
            }
            _ => false,
        }
    }

    /// A page with a form, setting the CSRF cookie when it is new.
    fn form_page(&self, page: Page, csrf: (String, bool)) -> Response {
        let mut response = page.into_response();
        if csrf.1 {
            if let Some(v) = self.names.set(self.names.csrf, &csrf.0, None) {
                response.headers_mut().append(SET_COOKIE, v);
            }
        }
        response
    }
}

fn cookies_filter(
    names: CookieNames,
) -> impl Filter<Extract = (Cookies,), Error = std::convert::Infallible> + Clone {
    warp::cookie::optional::<String>(names.sso)
        .and(warp::cookie::optional::<String>(names.csrf))
        .map(|sso, csrf| Cookies { sso, csrf })
}

/// The parameters of a query string or a form body, in order (repeats kept: the checks refuse them).
fn params_of(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A form body's parameters: `application/x-www-form-urlencoded` only.
fn form_params(
    content_type: Option<&HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Option<Vec<(String, String)>> {
    let is_form = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let body = body.ok()?;
    is_form.then(|| params_of(&body))
}

fn redirect(location: &str) -> Response {
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// `redirect_uri` with `pairs` added to its query.
fn with_query(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut query = url.query_pairs_mut();
                for (n, v) in pairs {
                    query.append_pair(n, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

/// An error sent to the client (RFC 6749 §4.1.2.1, with RFC 9207's `iss`).
fn error_redirect(app: &App, e: &ErrorRedirect) -> Response {
    let mut pairs = vec![("error", e.error), ("error_description", e.description.as_str())];
    if let Some(state) = &e.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", app.provider.issuer()));
    redirect(&with_query(&e.redirect_uri, &pairs))
}

fn error_page(status: StatusCode, text: &str) -> Response {
    Page::new(status, "No se pudo continuar", pages::message(text)).into_response()
}

/// A refusal on a page: the store down (503), or anything else (500, logged).
fn refusal_page(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Store(e) => {
            tracing::warn!(error = %e, "login page: the store does not answer");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "El servicio no está disponible en este momento. Inténtalo de nuevo en unos segundos.",
            )
        }
        Refusal::Limited { retry_after_secs } => {
            error_page(StatusCode::TOO_MANY_REQUESTS, &wait_text(retry_after_secs))
        }
        other => {
            tracing::error!(error = %other, "login page failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error interno. Inténtalo de nuevo.",
            )
        }
    }
}

fn wait_text(retry_after_secs: u64) -> String {
    let wait = if retry_after_secs >= 90 {
        format!("{} minutos", retry_after_secs.div_ceil(60))
    } else {
        format!("{} segundos", retry_after_secs.max(1))
    };
    format!(
        "Demasiados intentos: el acceso está bloqueado temporalmente. Inténtalo de nuevo dentro de {wait}."
    )
}

const EXPIRED_REQUEST: &str =
    "La solicitud de acceso caducó o no es válida. Vuelve a la aplicación e inicia sesión de nuevo.";
const BAD_CSRF: &str =
    "El formulario caducó o no viene de esta página. Vuelve a la aplicación e inténtalo de nuevo.";

/// Where an authorization request goes from here: the login page, the consent screen, or the code.
async fn proceed(
    visit: &Visit,
    request: AuthRequest,
    client: ClientRecord,
    parked: Option<String>,
) -> Result<Response, Refusal> {
    let app = &visit.app;
    let current = app.browsers.current(visit.cookies.sso.as_deref()).await?;
    let fresh = current.filter(|(browser, _)| app.provider.fresh_enough(&request, browser));
    let Some((browser, user)) = fresh else {
        if request.prompts("none") {
            return Ok(error_redirect(
                app,
                &ErrorRedirect::of(&request, "login_required", "the user is not signed in"),
            ));
        }
        let id = match parked {
            Some(id) => id,
            None => app.provider.park(&request).await?,
        };
        let csrf = visit.csrf();
        let hint = request.login_hint.clone().unwrap_or_default();
        let body = pages::login_form_with(
            &client.client_name,
            &id,
            &csrf.0,
            &hint,
            None,
            app.passkeys.enabled(),
        );
        let page = Page::new(StatusCode::OK, "Iniciar sesión", body).ending_at(&request.redirect_uri);
        return Ok(visit.form_page(page, csrf));
    };
    grant(visit, request, client, parked, browser, &user).await
}

/// The signed-in user's answer to a request: the consent screen, or the code.
async fn grant(
    visit: &Visit,
    request: AuthRequest,
    client: ClientRecord,
    parked: Option<String>,
    browser: BrowserSession,
    user: &User,
) -> Result<Response, Refusal> {
    let app = &visit.app;
    if app
        .provider
        .needs_consent(&request, &client, &browser.uid)
        .await?
    {
        if request.prompts("none") {
            return Ok(error_redirect(
                app,
                &ErrorRedirect::of(&request, "consent_required", "the user has not consented"),
            ));
        }
        let id = match parked {
            Some(id) => id,
            None => app.provider.park(&request).await?,
        };
        let csrf = visit.csrf();
        let body = pages::consent_form(
            &client.client_name,
            user.username.as_str(),
            &request.scope,
            &id,
            &csrf.0,
        );
        let page = Page::new(StatusCode::OK, "Permitir el acceso", body).ending_at(&request.redirect_uri);
        return Ok(visit.form_page(page, csrf));
    }
    code_redirect(app, &request, &browser, parked.as_deref()).await
}

async fn code_redirect(
    app: &App,
    request: &AuthRequest,
    browser: &BrowserSession,
    parked: Option<&str>,
) -> Result<Response, Refusal> {
    let code = app.provider.issue_code(request, browser).await?;
    if let Some(id) = parked {
        app.provider.unpark(id).await?;
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", app.provider.issuer()));
    Ok(redirect(&with_query(&request.redirect_uri, &pairs)))
}

async fn authorize(visit: Visit, params: Vec<(String, String)>) -> Response {
    match visit.app.provider.check(&params).await {
        Err(AuthorizeError::Page(text)) => error_page(StatusCode::BAD_REQUEST, &text),
        Err(AuthorizeError::Redirect(e)) => error_redirect(&visit.app, &e),
        Err(AuthorizeError::Store(e)) => refusal_page(Refusal::Store(e)),
        Ok((request, client)) => proceed(&visit, request, client, None)
            .await
            .unwrap_or_else(refusal_page),
    }
}

/// What every page endpoint takes: the endpoints on, the cookies, the client's IP, the state.
fn visit(app: &App) -> impl Filter<Extract = (Visit,), Error = Rejection> + Clone {
    let names = CookieNames::of(app);
    super::access::oauth_enabled(app)
        .and(cookies_filter(names))
        .and(client_ip(app.config.trusted_proxies.clone()))
        .and(with_state(app.clone()))
        .map(move |cookies, ip, app| Visit {
            app,
            names,
            cookies,
            ip,
        })
}

/// The query string, empty when there is none.
fn query() -> impl Filter<Extract = (Vec<(String, String)>,), Error = std::convert::Infallible> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|q: String| params_of(q.as_bytes()))
}

/// A form body's parameters, or `None` when the body is not a form.
fn form() -> impl Filter<Extract = (Option<Vec<(String, String)>>,), Error = Rejection> + Clone {
    raw_body().map(|content_type: Option<HeaderValue>, body| form_params(content_type.as_ref(), body))
}

/// `GET /oauth2/authorize`
#[utoipa::path(get, path = "/oauth2/authorize", tag = "oauth2",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "A registered client"),
        ("redirect_uri" = String, Query, description = "Exactly one of the client's `redirect_uris`"),
        ("scope" = String, Query, description = "Space-separated; `openid` for an ID token"),
        ("state" = Option<String>, Query, description = "Given back with the code or the error"),
        ("nonce" = Option<String>, Query, description = "Put in the ID token"),
        ("code_challenge" = Option<String>, Query, description = "PKCE (RFC 7636); required from public clients"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256` (`plain` is refused)"),
        ("prompt" = Option<String>, Query, description = "`none`, `login`, `consent` (OIDC Core §3.1.2.1)"),
        ("max_age" = Option<i64>, Query, description = "Seconds since the last sign-in after which the user signs in again"),
        ("login_hint" = Option<String>, Query, description = "Fills in the username"),
    ),
    responses(
        (status = 200, description = "The hosted login page, or the consent screen (HTML)", content_type = "text/html"),
        (status = 303, description = "To the client's `redirect_uri` with `code`, `state` and `iss`, or with `error` (RFC 6749 §4.1.2.1: `invalid_request`, `unsupported_response_type`, `invalid_scope`, `unauthorized_client`, `login_required`, `consent_required`, `access_denied`)"),
        (status = 400, description = "No client, or a `redirect_uri` it did not register: an error page, never a redirect", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn authorize_get(app: App) -> Endpoint {
    Endpoint::of::<__path_authorize_get>(
        warp::path!("oauth2" / "authorize")
            .and(warp::get())
            .and(visit(&app))
            .and(query())
            .then(authorize),
    )
}

/// `POST /oauth2/authorize`
#[utoipa::path(post, path = "/oauth2/authorize", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "The parameters of `GET /oauth2/authorize`, as a form (OIDC Core §3.1.2.1)"),
    responses(
        (status = 200, description = "The hosted login page, or the consent screen (HTML)", content_type = "text/html"),
        (status = 303, description = "To the client's `redirect_uri` with `code` or `error`"),
        (status = 400, description = "Not a form, no client, or a `redirect_uri` it did not register: an error page", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn authorize_post(app: App) -> Endpoint {
    Endpoint::of::<__path_authorize_post>(
        warp::path!("oauth2" / "authorize")
            .and(warp::post())
            .and(visit(&app))
            .and(form())
            .then(|visit: Visit, params: Option<Vec<(String, String)>>| async move {
                match params {
                    Some(params) => authorize(visit, params).await,
                    None => error_page(
                        StatusCode::BAD_REQUEST,
                        "La solicitud debe enviarse como formulario (application/x-www-form-urlencoded).",
                    ),
                }
            }),
    )
}

/// The login page of a parked request again (`GET /oauth2/login?req=`).
async fn login_again(visit: Visit, params: Vec<(String, String)>) -> Response {
    let id = param(&params, "req").unwrap_or_default().to_string();
    match visit.app.provider.parked(&id).await {
        Ok(Some((request, client))) => proceed(&visit, request, client, Some(id))
            .await
            .unwrap_or_else(refusal_page),
        Ok(None) => error_page(StatusCode::BAD_REQUEST, EXPIRED_REQUEST),
        Err(e) => refusal_page(Refusal::Store(e)),
    }
}

/// `GET /oauth2/login`
#[utoipa::path(get, path = "/oauth2/login", tag = "oauth2",
    params(("req" = String, Query, description = "The authorization request waiting for its login")),
    responses(
        (status = 200, description = "The login page (HTML)", content_type = "text/html"),
        (status = 303, description = "Already signed in: to the client's `redirect_uri` with `code`"),
        (status = 400, description = "No such request (it expired, or was answered): an error page", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn login_get(app: App) -> Endpoint {
    Endpoint::of::<__path_login_get>(
        warp::path!("oauth2" / "login")
            .and(warp::get())
            .and(visit(&app))
            .and(query())
            .then(login_again),
    )
}

/// After a successful sign-in on the page: a browser session (its cookie set), then the consent
/// screen or the code.
async fn signed_in(
    visit: &Visit,
    mut request: AuthRequest,
    client: ClientRecord,
    parked: String,
    proven: Proven,
) -> Result<Response, Refusal> {
    let app = &visit.app;
    // A browser that signs in again (another user, `prompt=login`) ends the session it had.
    if let Some(old) = visit.cookies.sso.as_deref() {
        app.browsers.end(old).await?;
    }
    let (cookie, browser) = app.browsers.start(&proven).await?;
    // The consent screen, if it comes next, takes this sign-in as the one the request asked for.
    app.provider
        .signed_in_for(&parked, &mut request, &browser)
        .await?;
    shared::metrics::metrics()
        .logins
        .with_label_values(&["success"])
        .inc();
    let mut response = grant(visit, request, client, Some(parked), browser, &proven.user).await?;
    if let Some(v) = visit
        .names
        .set(visit.names.sso, &cookie, Some(app.browsers.life_secs()))
    {
        response.headers_mut().append(SET_COOKIE, v);
    }
    Ok(response)
}

/// A page of the login form again, with a message.
fn login_page_with(
    visit: &Visit,
    request: &AuthRequest,
    client: &ClientRecord,
    id: &str,
    username: &str,
    status: StatusCode,
    text: &str,
) -> Response {
    let csrf = visit.csrf();
    let body = pages::login_form_with(
        &client.client_name,
        id,
        &csrf.0,
        username,
        Some(text),
        visit.app.passkeys.enabled(),
    );
    visit.form_page(
        Page::new(status, "Iniciar sesión", body).ending_at(&request.redirect_uri),
        csrf,
    )
}

async fn login_submit(visit: Visit, form: Option<Vec<(String, String)>>) -> Response {
    let Some(form) = form else {
        return error_page(StatusCode::BAD_REQUEST, BAD_CSRF);
    };
    if !visit.csrf_ok(param(&form, "csrf")) {
        tracing::info!("login page: CSRF token missing or wrong");
        return error_page(StatusCode::FORBIDDEN, BAD_CSRF);
    }
    let id = param(&form, "req").unwrap_or_default().to_string();
    let (request, client) = match visit.app.provider.parked(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, EXPIRED_REQUEST),
        Err(e) => return refusal_page(Refusal::Store(e)),
    };
    let app = visit.app.clone();
    let passkey = param(&form, "passkey").filter(|p| !p.is_empty());
    if let Some(mfa_token) = param(&form, "mfa") {
        // The factors the page offered (only what to show again: the server checks whatever comes).
        let factors: Vec<&str> = param(&form, "factors")
            .unwrap_or("totp")
            .split(' ')
            .filter_map(|f| ["totp", "passkey"].into_iter().find(|known| *known == f))
            .collect();
        let code_page = |status: StatusCode, text: &str| {
            let csrf = visit.csrf();
            let body =
                pages::second_step_form(&client.client_name, &id, &csrf.0, mfa_token, Some(text), &factors);
            visit.form_page(
                Page::new(status, "Verificación en dos pasos", body).ending_at(&request.redirect_uri),
                csrf,
            )
        };
        let outcome = match passkey {
            Some(assertion) => {
                app.authenticator
                    .second_step_with_passkey(mfa_token, assertion.as_bytes(), visit.ip)
                    .await
            }
            None => {
                let code = param(&form, "code").unwrap_or_default();
                app.authenticator.second_step(mfa_token, code, visit.ip).await
            }
        };
        return match outcome {
            Ok(proven) => signed_in(&visit, request.clone(), client.clone(), id.clone(), proven)
                .await
                .unwrap_or_else(refusal_page),
            Err(Refusal::BadCode) if passkey.is_some() => code_page(
                StatusCode::UNAUTHORIZED,
                "La llave de acceso no se aceptó. Inténtalo de nuevo o usa otro factor.",
            ),
            Err(Refusal::BadCode) => code_page(
                StatusCode::UNAUTHORIZED,
                "Código incorrecto, ya usado o caducado. Escribe el código que muestra ahora tu aplicación.",
            ),
            Err(Refusal::Limited { retry_after_secs }) => {
                code_page(StatusCode::TOO_MANY_REQUESTS, &wait_text(retry_after_secs))
            }
            Err(Refusal::Token(..) | Refusal::Revoked) => login_page_with(
                &visit,
                &request,
                &client,
                &id,
                "",
                StatusCode::UNAUTHORIZED,
                "La verificación caducó o ya no es válida. Inicia sesión de nuevo.",
            ),
            Err(other) => refusal_page(other),
        };
    }
    if let Some(assertion) = passkey {
        return match app
            .authenticator
            .passkey_sign_in(assertion.as_bytes(), visit.ip)
            .await
        {
            Ok(proven) => signed_in(&visit, request, client, id, proven)
                .await
                .unwrap_or_else(refusal_page),
            Err(Refusal::BadCredentials) => {
                shared::metrics::metrics()
                    .logins
                    .with_label_values(&["invalid_credentials"])
                    .inc();
                login_page_with(
                    &visit,
                    &request,
                    &client,
                    &id,
                    "",
                    StatusCode::UNAUTHORIZED,
                    "No se pudo entrar con esa llave de acceso. Inténtalo de nuevo o usa tu contraseña.",
                )
            }
            Err(Refusal::Limited { retry_after_secs }) => login_page_with(
                &visit,
                &request,
                &client,
                &id,
                "",
                StatusCode::TOO_MANY_REQUESTS,
                &wait_text(retry_after_secs),
            ),
            Err(other) => refusal_page(other),
        };
    }
    let username = param(&form, "username").unwrap_or_default().to_string();
    let password = param(&form, "password").unwrap_or_default();
    let outcome = app
        .authenticator
        .sign_in(Identifier::Username(&username), password, visit.ip, |_| true)
        .await;
    match outcome {
        Ok(SignIn::Proven(proven)) => signed_in(&visit, request, client, id, proven)
            .await
            .unwrap_or_else(refusal_page),
        Ok(SignIn::Challenge(challenge)) => {
            shared::metrics::metrics()
                .logins
                .with_label_values(&["mfa_required"])
                .inc();
            let csrf = visit.csrf();
            let body = pages::second_step_form(
                &client.client_name,
                &id,
                &csrf.0,
                &challenge.mfa_token,
                None,
                &challenge.methods,
            );
            visit.form_page(
                Page::new(StatusCode::OK, "Verificación en dos pasos", body).ending_at(&request.redirect_uri),
                csrf,
            )
        }
        Err(Refusal::BadCredentials | Refusal::PasswordTooLong { .. }) => {
            shared::metrics::metrics()
                .logins
                .with_label_values(&["invalid_credentials"])
                .inc();
            login_page_with(
                &visit,
                &request,
                &client,
                &id,
                &username,
                StatusCode::UNAUTHORIZED,
                "Usuario o contraseña incorrectos.",
            )
        }
        Err(Refusal::Limited { retry_after_secs }) => {
            shared::metrics::metrics()
                .logins
                .with_label_values(&["rate_limited"])
                .inc();
            login_page_with(
                &visit,
                &request,
                &client,
                &id,
                &username,
                StatusCode::TOO_MANY_REQUESTS,
                &wait_text(retry_after_secs),
            )
        }
        Err(other) => refusal_page(other),
    }
}

/// `POST /oauth2/login`
#[utoipa::path(post, path = "/oauth2/login", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "The login form: `csrf`, `req`, and `username` and `password` (or `passkey`, an AuthenticationResponseJSON); or the second step: `csrf`, `req`, `mfa` and `code` (or `passkey`)"),
    responses(
        (status = 200, description = "The second step's page, or the consent screen (HTML)", content_type = "text/html"),
        (status = 303, description = "Signed in: to the client's `redirect_uri` with `code` (the browser session's cookie set)"),
        (status = 400, description = "Not a form, or the request expired: an error page", content_type = "text/html"),
        (status = 401, description = "Wrong username or password, or a wrong code: the form again with the message", content_type = "text/html"),
        (status = 403, description = "The CSRF token is missing or wrong", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 429, description = "Too many attempts (the account or the IP locked): the form with the wait", content_type = "text/html"),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn login_post(app: App) -> Endpoint {
    Endpoint::of::<__path_login_post>(
        warp::path!("oauth2" / "login")
            .and(warp::post())
            .and(visit(&app))
            .and(form())
            .then(login_submit),
    )
}

async fn consent_submit(visit: Visit, form: Option<Vec<(String, String)>>) -> Response {
    let Some(form) = form else {
        return error_page(StatusCode::BAD_REQUEST, BAD_CSRF);
    };
    if !visit.csrf_ok(param(&form, "csrf")) {
        return error_page(StatusCode::FORBIDDEN, BAD_CSRF);
    }
    let id = param(&form, "req").unwrap_or_default().to_string();
    let app = visit.app.clone();
    let (request, client) = match app.provider.parked(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => return error_page(StatusCode::BAD_REQUEST, EXPIRED_REQUEST),
        Err(e) => return refusal_page(Refusal::Store(e)),
    };
    let current = match app.browsers.current(visit.cookies.sso.as_deref()).await {
        Ok(current) => current,
        Err(e) => return refusal_page(e),
    };
    let current = current.filter(|(browser, _)| app.provider.may_consent(&request, browser));
    let Some((browser, _user)) = current else {
        // Signed out meanwhile, or not signed in as freshly as the request asks (`prompt=login`,
        // `max_age`): the login page for the same request.
        return proceed(&visit, request, client, Some(id))
            .await
            .unwrap_or_else(refusal_page);
    };
    let result = async {
        if param(&form, "decision") == Some("allow") {
            app.provider
                .consent(&browser.uid, &client.client_id, &request.scope)
                .await?;
            crate::audit::record(
                "consent_given",
                crate::audit::Actor::Anonymous,
                &browser.uid,
                &client.client_id,
            );
            code_redirect(&app, &request, &browser, Some(&id)).await
        } else {
            app.provider.unpark(&id).await?;
            Ok(error_redirect(
                &app,
                &ErrorRedirect::of(&request, "access_denied", "the user refused"),
            ))
        }
    };
    result.await.unwrap_or_else(refusal_page)
}

/// `POST /oauth2/login/consent`
#[utoipa::path(post, path = "/oauth2/login/consent", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "The consent screen's form: `csrf`, `req`, `decision` (`allow` or `deny`)"),
    responses(
        (status = 200, description = "Signed out meanwhile: the login page (HTML)", content_type = "text/html"),
        (status = 303, description = "To the client's `redirect_uri` with `code` (allowed, and remembered) or `error=access_denied`"),
        (status = 400, description = "Not a form, or the request expired: an error page", content_type = "text/html"),
        (status = 403, description = "The CSRF token is missing or wrong", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn consent_post(app: App) -> Endpoint {
    Endpoint::of::<__path_consent_post>(
        warp::path!("oauth2" / "login" / "consent")
            .and(warp::post())
            .and(visit(&app))
            .and(form())
            .then(consent_submit),
    )
}

/// RP-Initiated Logout 1.0: ends the browser session (and what its codes started) when the request
/// carries a valid `id_token_hint` or is the confirmation form's; otherwise asks first. Redirects
/// only to a `post_logout_redirect_uri` the client registered.
async fn logout(visit: Visit, params: Vec<(String, String)>, confirmed_form: bool) -> Response {
    let app = visit.app.clone();
    let hint = param(&params, "id_token_hint").and_then(|t| app.provider.id_token_hint(t));
    let asked_client = param(&params, "client_id");
    if let (Some(hint), Some(asked)) = (&hint, asked_client) {
        // RP-Initiated Logout 1.0 §2: both given, they must name one client.
        if hint.aud != asked {
            return error_page(
                StatusCode::BAD_REQUEST,
                "La aplicación (client_id) no es aquella para la que se emitió el id_token_hint.",
            );
        }
    }
    let client_id = hint
        .as_ref()
        .map(|h| h.aud.clone())
        .or_else(|| asked_client.map(String::from));
    let client = match &client_id {
        Some(id) => match app.registry.get(id).await {
            Ok(client) => client,
            Err(e) => return refusal_page(Refusal::Store(e)),
        },
        None => None,
    };
    let target = param(&params, "post_logout_redirect_uri");
    if let Some(uri) = target {
        let registered = client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri));
        if !registered {
            return error_page(
                StatusCode::BAD_REQUEST,
                "La dirección a la que volver tras cerrar la sesión (post_logout_redirect_uri) no está registrada para esta aplicación.",
            );
        }
    }
    // A hint is the user's own word only for the session it was issued in: an ID token of another
    // browser session (anyone's, mailed in a link) must not end this one unasked (§2: "the OP MUST
    // ask ... if the supplied ID Token does not belong to the current OP session").
    let hint_is_this_sessions = match (&hint, visit.cookies.sso.as_deref()) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(hint), Some(cookie)) => match app.browsers.current(Some(cookie)).await {
            Ok(Some((browser, _))) => browser.sid == hint.sid && browser.uid == hint.sub,
            Ok(None) => true,
            Err(e) => return refusal_page(e),
        },
    };
    let confirmed = confirmed_form || hint_is_this_sessions;
    if !confirmed {
        let csrf = visit.csrf();
        let mut passed: Vec<(&str, &str)> = Vec::new();
        for name in ["post_logout_redirect_uri", "state"] {
            if let Some(v) = param(&params, name) {
                passed.push((name, v));
            }
        }
        if let Some(id) = client_id.as_deref() {
            passed.push(("client_id", id));
        }
        let page = Page::new(
            StatusCode::OK,
            "Cerrar sesión",
            pages::logout_form(&csrf.0, &passed),
        );
        let page = match target {
            Some(uri) => page.ending_at(uri),
            None => page,
        };
        return visit.form_page(page, csrf);
    }
    if let Some(cookie) = visit.cookies.sso.as_deref() {
        let ended = async {
            if let Some(browser) = app.browsers.end(cookie).await? {
                app.provider.end_descendants(&browser).await?;
                tracing::info!(user_id = %browser.uid, sid = %browser.sid, "browser session ended");
            }
            Ok::<(), Refusal>(())
        };
        if let Err(e) = ended.await {
            return refusal_page(e);
        }
    }
    let mut response = match target {
        Some(uri) => {
            let state = param(&params, "state");
            let pairs: Vec<(&str, &str)> = state.map(|s| ("state", s)).into_iter().collect();
            redirect(&with_query(uri, &pairs))
        }
        None => Page::new(
            StatusCode::OK,
            "Sesión cerrada",
            pages::message("Has cerrado la sesión. Ya puedes cerrar esta ventana."),
        )
        .into_response(),
    };
    if let Some(v) = visit.names.set(visit.names.sso, "", Some(0)) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// `GET /oauth2/logout`
#[utoipa::path(get, path = "/oauth2/logout", tag = "oauth2",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token this service issued (expired or not): logs out at once"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "One of the client's `post_logout_redirect_uris`"),
        ("client_id" = Option<String>, Query, description = "The client, without `id_token_hint`"),
        ("state" = Option<String>, Query, description = "Given back with the redirect"),
    ),
    responses(
        (status = 200, description = "Logged out (a page), or, without an `id_token_hint` of this browser's session, the question first (a form)", content_type = "text/html"),
        (status = 303, description = "Logged out: to `post_logout_redirect_uri` with `state`"),
        (status = 400, description = "A `post_logout_redirect_uri` the client did not register, or a `client_id` other than the hint's: an error page", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn logout_get(app: App) -> Endpoint {
    Endpoint::of::<__path_logout_get>(
        warp::path!("oauth2" / "logout")
            .and(warp::get())
            .and(visit(&app))
            .and(query())
            .then(|visit, params| logout(visit, params, false)),
    )
}

/// `POST /oauth2/logout`
#[utoipa::path(post, path = "/oauth2/logout", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "The parameters of `GET /oauth2/logout` as a form, or the confirmation form (`csrf`, `confirm=yes`)"),
    responses(
        (status = 200, description = "Logged out (a page), or the question first (a form)", content_type = "text/html"),
        (status = 303, description = "Logged out: to `post_logout_redirect_uri` with `state`"),
        (status = 400, description = "Not a form, or a `post_logout_redirect_uri` the client did not register: an error page", content_type = "text/html"),
        (status = 403, description = "A confirmation whose CSRF token is missing or wrong", content_type = "text/html"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 503, description = "The store does not answer (an error page)", content_type = "text/html")
    ))]
pub(super) fn logout_post(app: App) -> Endpoint {
    Endpoint::of::<__path_logout_post>(
        warp::path!("oauth2" / "logout")
            .and(warp::post())
            .and(visit(&app))
            .and(form())
            .then(|visit: Visit, form: Option<Vec<(String, String)>>| async move {
                let Some(form) = form else {
                    return error_page(
                        StatusCode::BAD_REQUEST,
                        "La solicitud debe enviarse como formulario (application/x-www-form-urlencoded).",
                    );
                };
                let confirming = param(&form, "confirm") == Some("yes");
                if confirming && !visit.csrf_ok(param(&form, "csrf")) {
                    return error_page(StatusCode::FORBIDDEN, BAD_CSRF);
                }
                logout(visit, form, confirming).await
            }),
    )
}

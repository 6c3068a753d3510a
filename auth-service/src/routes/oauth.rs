//! The OAuth 2.0 endpoints, in the standards' own formats rather than the envelope: form-encoded
//! requests, RFC 6749 §5.1 answers and §5.2 errors (`{"error","error_description"}`), always with
//! `Cache-Control: no-store`. Served only when `JWT_ISSUER` is a URL (see
//! [`crate::config::AuthConfig::oauth_enabled`]); otherwise they answer 404 like any unknown path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use bytes::BytesMut;
use serde::Serialize;
use shared::http::{client_ip, optional_header, raw_body, with_state};
use shared::routing::Endpoint;
use shared::ApiError;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::access::oauth_enabled;
use crate::app::App;
use crate::oauth::token::{AuthMethod, Credentials, OAuthError};

/// The RFC 6749 §5.2 error body.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`; `slow_down` (429) over a rate limit;
    /// `temporarily_unavailable` (503) when the store does not answer.
    error: &'static str,
    error_description: String,
}

/// RFC 6749 §5.1 answer of `/oauth2/token`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct TokenAnswer {
    /// An RFC 9068 JWT (header `typ: at+jwt`).
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds.
    expires_in: i64,
    /// The scopes granted, space-separated.
    scope: String,
}

fn json_reply(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = warp::reply::with_status(warp::reply::json(body), status).into_response();
    let headers = response.headers_mut();
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("pragma", HeaderValue::from_static("no-cache"));
    response
}

/// The RFC 6749 §5.2 answer of an error.
fn error_reply(error: OAuthError) -> Response {
    let (status, code) = match &error {
        OAuthError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        OAuthError::InvalidClient => (StatusCode::UNAUTHORIZED, "invalid_client"),
        OAuthError::UnauthorizedClient(_) => (StatusCode::BAD_REQUEST, "unauthorized_client"),
        OAuthError::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
        OAuthError::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        OAuthError::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
        OAuthError::SlowDown { .. } => (StatusCode::TOO_MANY_REQUESTS, "slow_down"),
        OAuthError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
        OAuthError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    let description = match &error {
        OAuthError::InvalidClient => "client authentication failed".to_string(),
        OAuthError::Store(_) => "the service cannot reach its store; try again".to_string(),
        OAuthError::Internal(e) => {
            tracing::error!(error = %e, "token endpoint failed");
            "internal error".to_string()
        }
        other => other.to_string(),
    };
    if let OAuthError::Store(e) = &error {
        tracing::warn!(error = %e, "token endpoint: the store does not answer");
    }
    let mut response = json_reply(
        status,
        &OAuthErrorBody {
            error: code,
            error_description: description,
        },
    );
    match error {
        OAuthError::InvalidClient => {
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"oauth2\", charset=\"UTF-8\""),
            );
        }
        OAuthError::SlowDown { retry_after_secs } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert("retry-after", v);
            }
        }
        _ => {}
    }
    response
}

/// The parameters of a form body (RFC 6749 §3.2: `application/x-www-form-urlencoded`, each at most
/// once).
fn form(
    content_type: Option<&HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Result<HashMap<String, String>, OAuthError> {
    let is_form = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded (RFC 6749 §3.2)".into(),
        ));
    }
    let body = body.map_err(|e| OAuthError::InvalidRequest(format!("the body could not be read: {e}")))?;
    let mut params = HashMap::new();
    for (name, value) in form_pairs(&body) {
        // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted"
        // (a public client's library that sends `client_secret=`, an empty `scope`).
        if value.is_empty() {
            continue;
        }
        if params.insert(name.to_string(), value.to_string()).is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {name} appears more than once"
            )));
        }
    }
    Ok(params)
}

/// The name-value pairs of a form body, as `form_urlencoded::parse` gives them. A body with neither
/// `%` nor `+` in valid UTF-8 (a token request whose ids and tokens need no escaping, as ours never
/// do) decodes to itself, so its pairs are cut from it as they stand, split as the parser splits
/// them (on `&`, empty pieces skipped, then on the first `=`): a refresh request's 500-byte token is
/// not walked byte by byte three times. Any other body goes through `form_urlencoded`.
fn form_pairs(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    if !body.contains(&b'%') && !body.contains(&b'+') {
        if let Ok(text) = std::str::from_utf8(body) {
            return text
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (Cow::Borrowed(name), Cow::Borrowed(value))
                })
                .collect();
        }
    }
    form_urlencoded::parse(body).collect()
}

/// One side of `Basic` credentials, form-decoded as RFC 6749 §2.3.1 asks (a part with neither `%`
/// nor `+`, as a generated id or secret is, decodes to itself).
fn form_decoded(part: &str) -> String {
    if !part.contains(['%', '+']) {
        return part.to_string();
    }
    form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client's credentials: `Authorization: Basic`, or `client_id` and `client_secret` in the form;
/// never both (RFC 6749 §2.3).
fn credentials(
    authorization: Option<&HeaderValue>,
    params: &mut HashMap<String, String>,
) -> Result<Credentials, OAuthError> {
    let posted = params.remove("client_secret");
    match (authorization, posted) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "client credentials both in Authorization and in the body".into(),
        )),
        (Some(header), None) => {
            let (id, secret) = crate::introspection_clients::parse_basic(header.as_bytes())
                .ok_or(OAuthError::InvalidClient)?;
            let client_id = form_decoded(&id);
            if params
                .get("client_id")
                .is_some_and(|posted_id| *posted_id != client_id)
            {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the authenticated client".into(),
                ));
            }
            Ok(Credentials {
                client_id,
                secret: form_decoded(&secret),
                method: AuthMethod::Basic,
            })
        }
        (None, Some(secret)) => Ok(Credentials {
            client_id: params
                .get("client_id")
                .cloned()
                .ok_or(OAuthError::InvalidClient)?,
            secret,
            method: AuthMethod::Post,
        }),
        // A public client names itself only (RFC 6749 §2.3: its proof is PKCE).
        (None, None) => Ok(Credentials {
            client_id: params
                .get("client_id")
                .cloned()
                .ok_or(OAuthError::InvalidClient)?,
            secret: String::new(),
            method: AuthMethod::None,
        }),
    }
}

/// The confidential client a request authenticates as (RFC 6749 §2.3), with the form's parameters
/// left.
async fn client_of(
    app: &App,
    ip: IpAddr,
    authorization: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Result<(crate::store::ClientRecord, HashMap<String, String>), OAuthError> {
    let mut params = form(content_type.as_ref(), body)?;
    let credentials = credentials(authorization.as_ref(), &mut params)?;
    let client = app.token_endpoint.authenticate(ip, &credentials).await?;
    Ok((client, params))
}

async fn token_grant(
    app: &App,
    ip: IpAddr,
    authorization: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Result<Response, OAuthError> {
    let mut params = form(content_type.as_ref(), body)?;
    let grant_type = params
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is missing".into()))?;
    if !crate::oauth::registry::GRANT_TYPES.contains(&grant_type.as_str()) {
        return Err(OAuthError::UnsupportedGrantType);
    }
    let credentials = credentials(authorization.as_ref(), &mut params)?;
    // A refresh is counted inside its rotation (one store round trip, as at `/auth/refresh`).
    let client = if grant_type == "refresh_token" {
        app.token_endpoint.authenticate_for_refresh(&credentials).await?
    } else {
        app.token_endpoint.authenticate(ip, &credentials).await?
    };
    params.remove("client_id");
    if !client.grant_types.contains(&grant_type) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "this client may not use {grant_type}"
        )));
    }
    match grant_type.as_str() {
        "client_credentials" => {
            let answer = app
                .token_endpoint
                .client_credentials(&client, params.get("scope").map(String::as_str))
                .await?;
            Ok(json_reply(StatusCode::OK, &answer))
        }
        "authorization_code" => {
            let code = params
                .get("code")
                .ok_or_else(|| OAuthError::InvalidRequest("code is missing".into()))?;
            let answer = app
                .provider
                .exchange(
                    &client,
                    code,
                    params.get("redirect_uri").map(String::as_str),
                    params.get("code_verifier").map(String::as_str),
                )
                .await?;
            Ok(json_reply(StatusCode::OK, &answer))
        }
        "refresh_token" => {
            let token = params
                .get("refresh_token")
                .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is missing".into()))?;
            let answer = app
                .provider
                .refresh(
                    &client,
                    token,
                    params.get("scope").map(String::as_str),
                    app.limits.ip_counter(ip),
                )
                .await?;
            Ok(json_reply(StatusCode::OK, &answer))
        }
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}

/// `POST /oauth2/token`
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`grant_type=client_credentials` and an optional `scope`; the client authenticates with HTTP Basic (`client_secret_basic`) or `client_id` and `client_secret` in the form (`client_secret_post`), whichever it registered"),
    responses(
        (status = 200, description = "An RFC 9068 access token (RFC 6749 §5.1); `Cache-Control: no-store`", body = TokenAnswer),
        (status = 400, description = "`invalid_request` (not a form, a parameter twice, two authentication methods), `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`", body = OAuthErrorBody),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 429, description = "`slow_down`: too many requests from this IP, or too many wrong secrets for this client; `Retry-After`", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store does not answer", body = OAuthErrorBody)
    ))]
pub(super) fn token(app: App) -> Endpoint {
    Endpoint::of::<__path_token>(form_request(&app, "token").then(
        |ip, authorization, content_type, body, app: App| async move {
            token_grant(&app, ip, authorization, content_type, body)
                .await
                .unwrap_or_else(error_reply)
        },
    ))
}

/// What every OAuth 2.0 form endpoint takes: its path under `/oauth2/`, `POST`, the endpoints on, the
/// client's IP, its `Authorization` header, and the body with its `Content-Type`.
fn form_request(
    app: &App,
    segment: &'static str,
) -> impl Filter<
    Extract = (
        IpAddr,
        Option<HeaderValue>,
        Option<HeaderValue>,
        Result<BytesMut, ApiError>,
        App,
    ),
    Error = Rejection,
> + Clone {
    warp::path("oauth2")
        .and(warp::path(segment))
        .and(warp::path::end())
        .and(warp::post())
        .and(oauth_enabled(app))
        .and(client_ip(app.config.trusted_proxies.clone()))
        .and(optional_header("authorization"))
        .and(raw_body())
        .and(with_state(app.clone()))
}

/// The `token` of a revocation or an introspection (RFC 7009 §2.1, RFC 7662 §2.1).
fn token_param(params: &HashMap<String, String>) -> Result<&str, OAuthError> {
    params
        .get("token")
        .map(String::as_str)
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))
}

/// `POST /oauth2/revoke` (RFC 7009): an access token issued to the authenticated client is revoked
/// (fed to every backend); an unknown, expired or already revoked token is no error (200). A token of
/// another client, or a person's token from the seed's endpoints: `unauthorized_client`.
async fn revoke_token(
    app: &App,
    ip: IpAddr,
    authorization: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Result<Response, OAuthError> {
    let (client, params) = client_of(app, ip, authorization, content_type, body).await?;
    let token = token_param(&params)?;
    if let Ok(claims) = app.codec.verify::<shared::AccessClaims>(token) {
        if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Err(OAuthError::UnauthorizedClient(
                "the token was not issued to this client".into(),
            ));
        }
        app.sessions.revoke_access(&claims).await?;
        crate::audit::record(
            "token_revoked",
            crate::audit::Actor::Anonymous,
            &claims.sub,
            &client.client_id,
        );
    } else if let Ok(claims) = app.codec.verify::<shared::RefreshClaims>(token) {
        // A refresh token of the client ends its session (RFC 7009 §2.1).
        if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
            return Err(OAuthError::UnauthorizedClient(
                "the token was not issued to this client".into(),
            ));
        }
        app.sessions.end(&claims.sub, &claims.sid).await?;
        crate::audit::record(
            "token_revoked",
            crate::audit::Actor::Anonymous,
            &claims.sub,
            &client.client_id,
        );
    }
    Ok(json_reply(StatusCode::OK, &serde_json::json!({})))
}

/// `POST /oauth2/introspect` (RFC 7662): whether a token is live right now, and its claims, for an
/// authenticated client; `token_type` is `Bearer` for an access token.
async fn introspect_token(
    app: &App,
    ip: IpAddr,
    authorization: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    body: Result<BytesMut, ApiError>,
) -> Result<Response, OAuthError> {
    let (client, params) = client_of(app, ip, authorization, content_type, body).await?;
    if client.token_endpoint_auth_method == "none" {
        // RFC 7662 §2.1: introspection is for clients that authenticate.
        return Err(OAuthError::InvalidClient);
    }
    let token = token_param(&params)?;
    let introspection = app.sessions.introspect(token).await?;
    let mut answer = serde_json::to_value(&introspection).map_err(|e| OAuthError::Internal(e.to_string()))?;
    if answer["typ"] == "access" {
        answer["token_type"] = serde_json::Value::from("Bearer");
    }
    Ok(json_reply(StatusCode::OK, &answer))
}

/// RFC 7009's answer: an empty JSON object.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Empty {}

/// RFC 7662's answer: `active`, and when it is true the token's claims (`sub`, `client_id`, `scope`,
/// `exp`, `iat`, `iss`, `aud`, `jti`, `token_type`, and a person's `username`, `email`, `rol`, `sid`).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct IntrospectionAnswer {
    active: bool,
}

/// `POST /oauth2/revoke`
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token` (and an optional `token_type_hint`); the client authenticates as at the token endpoint"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (an unknown or expired token is no error, RFC 7009 §2.2)", body = Empty),
        (status = 400, description = "`invalid_request` (not a form, no `token`), `unauthorized_client` (another client's token)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`", body = OAuthErrorBody),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 429, description = "`slow_down`, with `Retry-After`", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store does not answer", body = OAuthErrorBody)
    ))]
pub(super) fn revoke(app: App) -> Endpoint {
    Endpoint::of::<__path_revoke>(form_request(&app, "revoke").then(
        |ip, authorization, content_type, body, app: App| async move {
            revoke_token(&app, ip, authorization, content_type, body)
                .await
                .unwrap_or_else(error_reply)
        },
    ))
}

/// `POST /oauth2/introspect`
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token` (and an optional `token_type_hint`); the client authenticates as at the token endpoint"),
    responses(
        (status = 200, description = "`{active: false}`, or `{active: true}` and the token's claims", body = IntrospectionAnswer),
        (status = 400, description = "`invalid_request` (not a form, no `token`)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`", body = OAuthErrorBody),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody),
        (status = 429, description = "`slow_down`, with `Retry-After`", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store does not answer", body = OAuthErrorBody)
    ))]
pub(super) fn introspect(app: App) -> Endpoint {
    Endpoint::of::<__path_introspect>(form_request(&app, "introspect").then(
        |ip, authorization, content_type, body, app: App| async move {
            introspect_token(&app, ip, authorization, content_type, body)
                .await
                .unwrap_or_else(error_reply)
        },
    ))
}

/// `GET /.well-known/openid-configuration` and `GET /.well-known/oauth-authorization-server`: the
/// server's metadata (OIDC Discovery 1.0, RFC 8414), naming only what this build implements.
fn metadata(app: &App) -> serde_json::Value {
    let issuer = app.config.common.jwt.issuer.trim_end_matches('/').to_string();
    let at = |path: &str| format!("{issuer}{path}");
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let mut doc = serde_json::json!({
        "issuer": app.config.common.jwt.issuer,
        "authorization_endpoint": at("/oauth2/authorize"),
        "token_endpoint": at("/oauth2/token"),
        "userinfo_endpoint": at("/oauth2/userinfo"),
        "end_session_endpoint": at("/oauth2/logout"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "grant_types_supported": crate::oauth::registry::GRANT_TYPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": app.provider.id_token_algorithms(),
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "scopes_supported": crate::oauth::registry::SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "at_hash",
            "preferred_username", "rol", "email", "email_verified"],
        "authorization_response_iss_parameter_supported": true,
        // Discovery §3 defaults this one to true: say it is not (`request_uri` is refused).
        "request_uri_parameter_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint": at("/oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": at("/oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": auth_methods,
    });
    if app.signing.is_some() {
        doc["jwks_uri"] = serde_json::Value::from(at("/.well-known/jwks.json"));
    }
    doc
}

fn discovery_reply(app: &App) -> Response {
    let mut response = warp::reply::json(&metadata(app)).into_response();
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /.well-known/openid-configuration`
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth2",
    responses(
        (status = 200, description = "The server's metadata (OIDC Discovery 1.0 / RFC 8414): only what is implemented", content_type = "application/json"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody)
    ))]
pub(super) fn openid_configuration(app: App) -> Endpoint {
    Endpoint::of::<__path_openid_configuration>(
        warp::path!(".well-known" / "openid-configuration")
            .and(warp::get())
            .and(oauth_enabled(&app))
            .and(with_state(app))
            .map(|app: App| discovery_reply(&app)),
    )
}

/// `GET /.well-known/oauth-authorization-server`
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth2",
    responses(
        (status = 200, description = "The same metadata (RFC 8414)", content_type = "application/json"),
        (status = 404, description = "JWT_ISSUER is not a URL: the OAuth 2.0 endpoints are off", body = shared::envelope::ErrorBody)
    ))]
pub(super) fn authorization_server(app: App) -> Endpoint {
    Endpoint::of::<__path_authorization_server>(
        warp::path!(".well-known" / "oauth-authorization-server")
            .and(warp::get())
            .and(oauth_enabled(&app))
            .and(with_state(app))
            .map(|app: App| discovery_reply(&app)),
    )
}

#[cfg(test)]
mod tests {
    use super::{form, form_decoded, form_pairs};
    use warp::http::HeaderValue;

    #[test]
    fn parameters_without_a_value_are_as_if_omitted() {
        let kind = HeaderValue::from_static("application/x-www-form-urlencoded");
        let read = |body: &str| form(Some(&kind), Ok(body.as_bytes().into()));
        let params = read("grant_type=client_credentials&client_secret=&scope=&client_id=app").unwrap();
        let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["client_id", "grant_type"]);
        // An empty one beside a given one is not a repetition; two given ones are.
        assert_eq!(read("scope=&scope=openid").unwrap()["scope"], "openid");
        assert!(read("scope=a&scope=b").is_err());
    }

    #[test]
    fn form_pairs_are_what_form_urlencoded_gives_for_any_body() {
        let bodies: [&[u8]; 16] = [
            b"",
            b"&&",
            b"a",
            b"a=",
            b"=b",
            b"a=b=c",
            b"a=1&&b=2&",
            b"grant_type=refresh_token&refresh_token=eyJ0.eyJz.c2ln-_",
            "cliente=ñandú&x=é".as_bytes(),
            b"a=%41%zz%4",
            b"a+b=c+d",
            b"scope=openid%20profile",
            b"bad=\xff\xfe",
            &[b'a', b'=', 0xff, b'&', b'b', b'=', b'1'],
            &[b'a', b'=', 0xc3],
            b"a=1&a=2",
        ];
        for body in bodies {
            let expected: Vec<_> = form_urlencoded::parse(body).collect();
            assert_eq!(
                form_pairs(body),
                expected,
                "body {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_plain_ones_kept_as_they_are() {
        assert_eq!(form_decoded("my%20app+one"), "my app one");
        assert_eq!(form_decoded("s%2Bcret%3A%25"), "s+cret:%");
        assert_eq!(form_decoded("loadgen-web"), "loadgen-web");
        assert_eq!(form_decoded("Zx9_-AbC"), "Zx9_-AbC");
    }
}

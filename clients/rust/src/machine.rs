//! [`ClientCredentials`]: a backend's own OAuth 2.0 client, with the `client_credentials` token kept
//! until shortly before it expires (the 5-minute buffer, or half its life if that is shorter) and
//! fetched once for any number of tasks sharing a clone. A call answered 401 `TOKEN_EXPIRED` or
//! `TOKEN_REVOKED` gets one new token and one retry. A refused token request is [`Error::Api`] with
//! the RFC 6749 `error` as `codigo` (`invalid_client`, `invalid_scope`, ...), or
//! [`Error::RateLimited`]. No `Debug` output shows the secret or a token.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Response, Url};
use serde::{Deserialize, Serialize};

use crate::client::{is_loopback, REFRESH_BUFFER};
use crate::error::Error;

const SESSION_OVER: [&str; 2] = ["TOKEN_REVOKED", "TOKEN_EXPIRED"];

#[derive(Clone)]
struct Token {
    access: String,
    /// When to ask for the next one.
    renew_at: Instant,
}

struct Inner {
    base_url: String,
    client_id: String,
    secret: String,
    scope: Option<String>,
    /// `client_secret_post` rather than HTTP Basic.
    post: bool,
    http: reqwest::Client,
    buffer: Duration,
    token: Mutex<Option<Token>>,
    /// Held while a token is asked for: one request for every task.
    asking: tokio::sync::Mutex<()>,
}

/// See the module doc. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Inner>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("base_url", &self.inner.base_url)
            .field("client_id", &self.inner.client_id)
            .field("scope", &self.inner.scope)
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer (RFC 6749 §5.1), or its error (§5.2).
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Serialize)]
struct Form<'a> {
    grant_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

impl ClientCredentials {
    /// A client authenticating with HTTP Basic (`client_secret_basic`), asking for all its scopes.
    /// Plain HTTP only to this machine.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::with(base_url, client_id, client_secret, None, false, false)
    }

    /// Every option: the `scope` to ask for, `client_secret_post` instead of Basic, and plain HTTP to
    /// another machine (never in production).
    pub fn with(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        scope: Option<&str>,
        client_secret_post: bool,
        allow_insecure_http: bool,
    ) -> Result<Self, Error> {
        let base_url = base_url.into();
        let invalid = || Error::InvalidUrl(base_url.clone());
        let url = Url::parse(&base_url).map_err(|_| invalid())?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(invalid)?;
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure_http || is_loopback(host) => {}
            "http" => {
                return Err(Error::InsecureHttp {
                    host: host.to_string(),
                })
            }
            _ => return Err(invalid()),
        }
        Ok(Self {
            inner: Arc::new(Inner {
                base_url: base_url.trim_end_matches('/').to_string(),
                client_id: client_id.into(),
                secret: client_secret.into(),
                scope: scope.map(str::to_string),
                post: client_secret_post,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                buffer: REFRESH_BUFFER,
                token: Mutex::new(None),
                asking: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn current(&self) -> Option<Token> {
        self.inner.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The access token held now, if any.
    pub fn access_token(&self) -> Option<String> {
        self.current().map(|t| t.access)
    }

    /// An access token with more than the buffer left: the one held, or a new one.
    pub async fn token(&self) -> Result<String, Error> {
        match self.current() {
            Some(t) if Instant::now() < t.renew_at => Ok(t.access),
            held => self.renew(held.map(|t| t.access)).await,
        }
    }

    /// A new token unless another task already replaced `stale` (then that one).
    async fn renew(&self, stale: Option<String>) -> Result<String, Error> {
        let _asking = self.inner.asking.lock().await;
        if let Some(t) = self.current() {
            if Some(&t.access) != stale.as_ref() && Instant::now() < t.renew_at {
                return Ok(t.access);
            }
        }
        let token = self.ask().await?;
        let access = token.access.clone();
        *self.inner.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(access)
    }

    async fn ask(&self) -> Result<Token, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let form = Form {
            grant_type: "client_credentials",
            scope: inner.scope.as_deref(),
            client_id: inner.post.then_some(inner.client_id.as_str()),
            client_secret: inner.post.then_some(inner.secret.as_str()),
        };
        let mut request = inner
            .http
            .post(format!("{}/oauth2/token", inner.base_url))
            .form(&form);
        if !inner.post {
            // RFC 6749 §2.3.1: each part form-encoded, then HTTP Basic.
            let encode = |v: &str| -> String { form_part(v) };
            request = request.basic_auth(encode(&inner.client_id), Some(encode(&inner.secret)));
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let answer: Answer = response.json().await.unwrap_or(Answer {
            access_token: None,
            expires_in: None,
            error: None,
            error_description: None,
        });
        match answer.access_token {
            Some(access) if status == 200 => {
                let life = Duration::from_secs(answer.expires_in.unwrap_or(0));
                let early = inner.buffer.min(life / 2);
                Ok(Token {
                    access,
                    renew_at: started + life - early,
                })
            }
            _ if status == 429 => Err(Error::RateLimited {
                retry_after,
                codigo: answer.error,
            }),
            _ => Err(Error::Api {
                status,
                mensaje: answer
                    .error_description
                    .or_else(|| answer.error.clone())
                    .unwrap_or_else(|| format!("HTTP {status}")),
                codigo: answer.error,
            }),
        }
    }

    /// An authenticated call; `json` is sent as the body when given.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        json: Option<&T>,
    ) -> Result<Response, Error> {
        let send = |token: String| {
            let mut headers = HeaderMap::new();
            let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| Error::Api {
                status: 200,
                codigo: None,
                mensaje: "the token endpoint answered a token that is no header value".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let mut request = self
                .inner
                .http
                .request(method.clone(), format!("{}{path}", self.inner.base_url))
                .headers(headers);
            if let Some(body) = json {
                request = request.body(serde_json::to_vec(body).map_err(|e| Error::Body(Arc::new(e)))?);
            }
            Ok::<_, Error>((request, token))
        };
        let (request, used) = send(self.token().await?)?;
        let response = request.send().await?;
        if response.status() == 401 {
            let (status, headers, body) = (
                response.status(),
                response.headers().clone(),
                response.bytes().await?,
            );
            let codigo = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["codigo"].as_str().map(str::to_string));
            if codigo.as_deref().is_some_and(|c| SESSION_OVER.contains(&c)) {
                let (request, _) = send(self.renew(Some(used)).await?)?;
                return Ok(request.send().await?);
            }
            let mut rebuilt = http::Response::new(body);
            *rebuilt.status_mut() = status;
            *rebuilt.headers_mut() = headers;
            return Ok(Response::from(rebuilt));
        }
        Ok(response)
    }

    pub async fn get(&self, path: &str) -> Result<Response, Error> {
        self.request::<()>(Method::GET, path, None).await
    }

    pub async fn post<T: Serialize + ?Sized>(&self, path: &str, json: &T) -> Result<Response, Error> {
        self.request(Method::POST, path, Some(json)).await
    }
}

/// `application/x-www-form-urlencoded` of one value (RFC 6749 §2.3.1, Appendix B).
fn form_part(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
